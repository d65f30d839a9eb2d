//! A business runs an opt-in broadcast list for 1,000 customers, each with a real pairwise
//! session. Every customer's own device signs its opt-in; one product update reaches all of
//! them with a single encryption. One customer withdraws: the list deletes its chain at once,
//! rekeys, and the next update reaches the other 999 and not them. The data-protection
//! officer gets the consent audit log, readable and verifiable.
//!
//! Run with `cargo run --release --example broadcast` (about a second). In a plain debug build
//! it takes about 90 s here: unoptimized curve arithmetic makes each Ed25519 check ~400x
//! slower, and every consent and every delivery is one. With dependencies optimized in dev
//! builds (`[profile.dev.package."*"] opt-level = 2`) the debug run takes about 1.4 s.

use std::time::Instant;

use sealpost::group::{
    AuditLog, BroadcastList, BroadcastSubscription, ChannelDecryptError, ChannelEncryptError,
    ChannelId, ConsentOutcome,
};
use sealpost::{Envelope, IdentityKeyPair, PreKeyBundle, PreKeys, Session};

type Result<T> = std::result::Result<T, Box<dyn std::error::Error>>;

const CUSTOMERS: usize = 1_000;
/// Caller-supplied clock (sealpost reads none): 2025-11-24T16:00:00Z.
const NOW: u64 = 1_764_000_000;

/// One customer's device.
struct Device {
    identity: IdentityKeyPair,
    to_business: Session,
    feed: BroadcastSubscription,
}

fn main() -> Result<()> {
    let mut rng = rand::rng();
    let started = Instant::now();

    // --- The business publishes a bundle and opens the list ----------------------------------
    let business = IdentityKeyPair::generate(&mut rng);
    let mut prekeys = PreKeys::new();
    prekeys.generate_signed_prekey(&business, NOW, &mut rng)?;
    let published = prekeys.bundle(&business, None)?.to_bytes();
    let list_id = ChannelId::new(b"product-updates")?;
    let mut list = BroadcastList::new(business.public_key(), list_id.clone());
    // Every device fetches the same bundle; it is verified once here to keep the run short.
    let bundle = PreKeyBundle::from_bytes(&published)?.verify()?;

    // --- 1,000 customers open a session; the first message carries their signed opt-in -------
    let t = Instant::now();
    let mut devices = Vec::with_capacity(CUSTOMERS);
    let mut business_sessions = Vec::with_capacity(CUSTOMERS);
    for i in 0..CUSTOMERS {
        let identity = IdentityKeyPair::generate(&mut rng);
        let mut to_business = Session::initiate(&identity, &bundle, &mut rng)?;
        let (feed, opt_in) = BroadcastSubscription::subscribe(
            &identity,
            &to_business,
            list_id.clone(),
            NOW + i as u64,
        )?;
        let wire = to_business.encrypt(&mut rng, &opt_in)?;

        // At the business: the prekey message creates the session and delivers the opt-in.
        let Envelope::PreKey(first) = Envelope::parse(&wire)? else {
            return Err("expected a prekey message".into());
        };
        let (to_customer, plaintext) = Session::accept(&business, &mut prekeys, &first)?;
        list.receive(&to_customer, &plaintext)?;
        devices.push(Device {
            identity,
            to_business,
            feed,
        });
        business_sessions.push(to_customer);
    }
    println!(
        "{} customers opted in from their own devices ({:.2?})",
        list.subscriber_count(),
        t.elapsed()
    );

    // --- First update: one chain, distributed pairwise, then one encryption for everyone -----
    let t = Instant::now();
    deliver_rekey(&mut list, &mut business_sessions, &mut devices, &mut rng)?;
    let update = b"New: the X200 heat pump, 20% off for subscribers until Friday.";
    let broadcast = list.broadcast(&mut rng, update)?;
    let reached = devices
        .iter_mut()
        .map(|d| d.feed.decrypt(&broadcast))
        .filter(|p| p.as_ref().is_ok_and(|p| p == update))
        .count();
    println!(
        "update 1: one {}-byte broadcast read by {reached} of {CUSTOMERS} ({:.2?})",
        broadcast.len(),
        t.elapsed()
    );

    // --- One customer withdraws ---------------------------------------------------------------
    let leaver = 417;
    // A device that keeps its keys anyway, to show they no longer help.
    let mut kept_keys = BroadcastSubscription::from_bytes(&devices[leaver].feed.to_bytes())?;
    let d = &mut devices[leaver];
    let opt_out = d.feed.unsubscribe(&d.identity, NOW + 86_400)?;
    let wire = d.to_business.encrypt(&mut rng, &opt_out)?;
    let plaintext = business_sessions[leaver].decrypt(&wire)?;
    let ConsentOutcome::Unsubscribed { customer } =
        list.receive(&business_sessions[leaver], &plaintext)?
    else {
        return Err("expected a withdrawal".into());
    };
    println!(
        "customer #{leaver} withdrew; {} subscribers left; next broadcast without a rekey: {:?}",
        list.subscriber_count(),
        list.broadcast(&mut rng, b"-")
            .err()
            .filter(|e| *e == ChannelEncryptError::RekeyRequired)
    );

    // --- Second update: new chain for the 999, then one encryption --------------------------
    let t = Instant::now();
    deliver_rekey(&mut list, &mut business_sessions, &mut devices, &mut rng)?;
    let update = b"Reminder: the X200 offer ends tomorrow.";
    let broadcast = list.broadcast(&mut rng, update)?;
    let mut reached = 0;
    for (i, d) in devices.iter_mut().enumerate() {
        match d.feed.decrypt(&broadcast) {
            Ok(p) if p == update && i != leaver => reached += 1,
            Err(ChannelDecryptError::NotAMember) if i == leaver => {}
            other => return Err(format!("customer {i}: unexpected {other:?}").into()),
        }
    }
    let old_keys = kept_keys.decrypt(&broadcast);
    println!(
        "update 2: read by {reached} of {} subscribers; customer #{leaver}: withdrawn, and \
         its kept keys give {old_keys:?} ({:.2?})",
        list.subscriber_count(),
        t.elapsed()
    );
    if reached != CUSTOMERS - 1 || old_keys.is_ok() {
        return Err("the withdrawal was not honoured".into());
    }

    // --- The audit log for the data-protection officer ---------------------------------------
    let exported = list.audit_log().to_bytes();
    // What the officer does with the bytes: every signature and every customer's order of
    // statements is checked, without trusting the business.
    let log = AuditLog::from_bytes(&exported)?;
    println!(
        "\naudit log: {} bytes, {} entries, all signatures verified\n",
        exported.len(),
        log.entries().len()
    );
    let full = log.to_string();
    for line in full.lines().take(9) {
        println!("{line}");
    }
    println!("       ... {} more entries ...\n", log.entries().len() - 2);
    println!("For customer #{leaver} (a data subject's access request):");
    print!("{}", log.for_customer(&customer));
    println!("\ndone in {:.2?}", started.elapsed());
    Ok(())
}

/// Starts the list's new chain and hands it to every subscriber over their pairwise session.
fn deliver_rekey<R: rand::CryptoRng + ?Sized>(
    list: &mut BroadcastList,
    business_sessions: &mut [Session],
    devices: &mut [Device],
    rng: &mut R,
) -> Result<()> {
    let distribution = list.rekey(rng);
    for (session, device) in business_sessions.iter_mut().zip(devices.iter_mut()) {
        if !distribution.is_recipient(session) {
            continue;
        }
        let wire = distribution.seal_for(session, rng)?;
        let payload = device.to_business.decrypt(&wire)?;
        device.feed.receive(&device.to_business, &payload)?;
    }
    Ok(())
}
