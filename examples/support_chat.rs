//! A customer opens an end-to-end encrypted support chat with a business from its published
//! prekey bundle. Messages arrive out of order, one is lost, both sides restart from their saved
//! state, and the conversation goes on. The relay in the middle only ever sees ciphertext.
//!
//! Run with `cargo run --example support_chat`.

use std::collections::VecDeque;

use sealpost::{Envelope, Fingerprint, IdentityKeyPair, PreKeyBundle, PreKeys, Session};

type Result<T> = std::result::Result<T, Box<dyn std::error::Error>>;

/// What a relay stores and forwards: opaque bytes.
#[derive(Default)]
struct Relay {
    to_business: VecDeque<Vec<u8>>,
    to_customer: VecDeque<Vec<u8>>,
}

fn main() -> Result<()> {
    let mut rng = rand::rng();

    // --- The business sets up its keys and publishes a bundle -------------------------------
    let business = IdentityKeyPair::generate(&mut rng);
    let mut prekeys = PreKeys::new();
    let spk = prekeys.generate_signed_prekey(&business, 1_764_000_000, &mut rng)?;
    let otks = prekeys.generate_one_time_prekeys(10, &mut rng)?;
    // Post-quantum by default: the signed prekey came with a last-resort ML-KEM-768 prekey; the
    // business also publishes one-time ones.
    let kem = prekeys.generate_one_time_kem_prekeys(&business, 10, &mut rng)?;
    let published = prekeys
        .bundle_with_kem_prekey(&business, Some(otks[0]), kem[0])?
        .to_bytes();
    println!(
        "business: published a bundle of {} bytes (signed prekey {spk}, one-time prekey {}, \
         ML-KEM-768 prekey {})",
        published.len(),
        otks[0],
        kem[0]
    );

    // --- The customer verifies the bundle and opens a session --------------------------------
    let customer = IdentityKeyPair::generate(&mut rng);
    let bundle = PreKeyBundle::from_bytes(&published)?.verify()?;
    let mut customer_session = Session::initiate(&customer, &bundle, &mut rng)?;
    println!(
        "customer: bundle signatures verified, session started (post-quantum: {})",
        customer_session.is_post_quantum()
    );

    let mut relay = Relay::default();
    for text in [
        "Hello, my heat pump shows error E42 since this morning.",
        "It was installed last March, order 2025-0311.",
        "Photo of the display follows in a minute.",
    ] {
        relay
            .to_business
            .push_back(customer_session.encrypt(&mut rng, text.as_bytes())?);
    }
    println!("customer: sent 3 messages (prekey messages: no reply yet)");

    // --- The relay delivers them out of order --------------------------------------------------
    relay.to_business.make_contiguous().swap(0, 2);
    let first = relay.to_business.pop_front().ok_or("empty relay")?;
    let Envelope::PreKey(handshake) = Envelope::parse(&first)? else {
        return Err("expected a prekey message".into());
    };
    println!(
        "relay: delivers message 3 first; business sees a new customer with one-time prekey {:?}",
        handshake.one_time_prekey_id()
    );
    let (mut business_session, text) = Session::accept(&business, &mut prekeys, &handshake)?;
    println!("business: <- {}", String::from_utf8_lossy(&text));
    while let Some(m) = relay.to_business.pop_front() {
        let text = business_session.decrypt(&m)?;
        println!(
            "business: <- {} (arrived late)",
            String::from_utf8_lossy(&text)
        );
    }
    println!(
        "business: one-time prekey consumed; {} left",
        prekeys.one_time_prekey_ids().count()
    );

    // --- Both sides compare fingerprints out of band -----------------------------------------
    let on_customer = Fingerprint::new(customer.public_key(), business_session.local_identity());
    let on_business = Fingerprint::new(business.public_key(), business_session.remote_identity());
    assert_eq!(on_customer, on_business);
    println!("both: safety number {}", on_customer.to_digits());

    // --- The business answers; one reply is lost ---------------------------------------------
    for text in [
        "Thanks! E42 means low refrigerant pressure.",
        "(this message is lost by the network)",
        "A technician can come on Monday between 8 and 12.",
    ] {
        relay
            .to_customer
            .push_back(business_session.encrypt(&mut rng, text.as_bytes())?);
    }
    relay.to_customer.remove(1);
    while let Some(m) = relay.to_customer.pop_front() {
        let text = customer_session.decrypt(&m)?;
        println!("customer: <- {}", String::from_utf8_lossy(&text));
    }
    println!(
        "customer: holds {} skipped key(s) for the message still missing",
        customer_session.skipped_keys()
    );

    // --- Both sides restart from saved state -------------------------------------------------
    // In an app these bytes are sealed under a device key and written to disk.
    let saved_customer = customer_session.to_bytes();
    let saved_business = business_session.to_bytes();
    let saved_prekeys = prekeys.to_bytes();
    let saved_identity = business.to_bytes();
    drop((customer_session, business_session, prekeys, business));
    println!(
        "both: restarted (customer record {} bytes, business record {} bytes)",
        saved_customer.len(),
        saved_business.len()
    );
    let mut customer_session = Session::from_bytes(&saved_customer)?;
    let mut business_session = Session::from_bytes(&saved_business)?;
    let prekeys = PreKeys::from_bytes(&saved_prekeys)?;
    let business = IdentityKeyPair::from_bytes(&saved_identity)?;
    println!(
        "business: restored identity {:?}, {} one-time prekeys",
        business.public_key(),
        prekeys.one_time_prekey_ids().count()
    );

    // --- The conversation continues ----------------------------------------------------------
    let m = customer_session.encrypt(&mut rng, b"Monday works, see you then.")?;
    println!(
        "business: <- {}",
        String::from_utf8_lossy(&business_session.decrypt(&m)?)
    );

    // A replay by the relay is refused, and the session is untouched.
    let before = business_session.to_bytes();
    match business_session.decrypt(&m) {
        Err(e) => println!("relay: replays the last message -> rejected: {e}"),
        Ok(_) => return Err("a replay was accepted".into()),
    }
    assert_eq!(before, business_session.to_bytes());

    // A tampered message is refused, and the session is untouched.
    let mut forged = business_session.encrypt(&mut rng, b"Invoice: 120 EUR")?;
    let last = forged.len() - 1;
    forged[last] ^= 1;
    let before = customer_session.to_bytes();
    match customer_session.decrypt(&forged) {
        Err(e) => println!("relay: flips one bit of a message -> rejected: {e}"),
        Ok(_) => return Err("a tampered message was accepted".into()),
    }
    assert_eq!(before, customer_session.to_bytes());
    println!("done: every message arrived once, in any order, across a restart");
    Ok(())
}
