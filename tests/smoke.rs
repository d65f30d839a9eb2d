mod common;

#[test]
fn conversation_both_directions_with_reordering() {
    let (mut alice, mut bob, mut rng) = common::pair(1, true);
    for round in 0..5u8 {
        let a: Vec<Vec<u8>> = (0..4u8)
            .map(|i| alice.encrypt(&mut rng, &[round, i]).unwrap())
            .collect();
        for i in [2usize, 0, 3, 1] {
            assert_eq!(bob.decrypt(&a[i]).unwrap(), vec![round, i as u8]);
        }
        let b: Vec<Vec<u8>> = (0..3u8)
            .map(|i| bob.encrypt(&mut rng, &[round, 100 + i]).unwrap())
            .collect();
        for i in [1usize, 2, 0] {
            assert_eq!(alice.decrypt(&b[i]).unwrap(), vec![round, 100 + i as u8]);
        }
    }
    assert!(!alice.awaiting_reply());
    let restored = sealpost::Session::from_bytes(&bob.to_bytes()).unwrap();
    assert_eq!(restored.to_bytes(), bob.to_bytes());
}
