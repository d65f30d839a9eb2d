//! A business support gateway that serves 50 customers from one SQLite file: every session
//! record is sealed at rest and written with compare-and-swap before a plaintext reaches the
//! agents or a reply leaves. The gateway restarts halfway, a customer reinstalls the app, and
//! the business and a customer start a conversation at the same moment.
//!
//! Run with `cargo run -p sealpost-sqlite --example support_gateway`.

use sealpost::store::{Store, decrypt_and_store, encrypt_and_store, initiate_and_store};
use sealpost::{IdentityKeyPair, PreKeyBundle, PreKeys, SessionRecord, StorageKey};
use sealpost_sqlite::SqliteStore;

type Result<T> = std::result::Result<T, Box<dyn std::error::Error>>;

const CUSTOMERS: usize = 50;

/// A customer's phone: its identity, its own prekeys (so the business can reach it first) and
/// its record of the session with the business.
struct Phone {
    identity: IdentityKeyPair,
    prekeys: PreKeys,
    with_business: SessionRecord,
}

impl Phone {
    fn new(rng: &mut rand::rngs::ThreadRng) -> Result<Self> {
        let identity = IdentityKeyPair::generate(rng);
        let mut prekeys = PreKeys::new();
        prekeys.generate_signed_prekey(&identity, 1_764_000_000, rng)?;
        prekeys.generate_one_time_prekeys(2, rng)?;
        Ok(Phone {
            identity,
            prekeys,
            with_business: SessionRecord::new(),
        })
    }

    fn bundle(&self) -> Result<Vec<u8>> {
        let otk = self.prekeys.one_time_prekey_ids().next();
        Ok(self.prekeys.bundle(&self.identity, otk)?.to_bytes())
    }

    fn read(&mut self, wire: &[u8]) -> Result<String> {
        let text = self
            .with_business
            .decrypt(&self.identity, &mut self.prekeys, wire)?;
        Ok(String::from_utf8(text)?)
    }
}

/// The business's prekey directory: hands each bundle's one-time prekey out once.
fn fetch_bundle(store: &SqliteStore, business: &IdentityKeyPair, n: usize) -> Result<Vec<u8>> {
    let prekeys = store.load_prekeys()?.ok_or("no prekeys")?;
    let otk = prekeys.one_time_prekey_ids().nth(n);
    Ok(prekeys.bundle(business, otk)?.to_bytes())
}

fn main() -> Result<()> {
    let mut rng = rand::rng();
    let dir = TempDir::new()?;
    let db = dir.0.join("gateway.db");
    // In production the storage key comes from a KMS or the platform keystore; the gateway
    // never writes it next to the database.
    let key_bytes: [u8; 32] = {
        let mut k = [0u8; 32];
        rand::Rng::fill_bytes(&mut rng, &mut k);
        k
    };

    // --- First start: create the business identity and prekeys -------------------------------
    let mut store = SqliteStore::open(&db, StorageKey::from_bytes(key_bytes))?;
    let business = IdentityKeyPair::generate(&mut rng);
    let mut prekeys = PreKeys::new();
    prekeys.generate_signed_prekey(&business, 1_764_000_000, &mut rng)?;
    prekeys.generate_one_time_prekeys(CUSTOMERS + 10, &mut rng)?;
    store.create_identity(&business)?;
    store.put_prekeys(None, &prekeys)?;
    println!(
        "gateway: new identity and {} one-time prekeys, sealed in {}",
        CUSTOMERS + 10,
        db.display()
    );

    // --- Customers write in; the gateway answers each ------------------------------------------
    let mut phones = Vec::with_capacity(CUSTOMERS);
    let mut business = store.load_identity()?.ok_or("no identity")?;
    for i in 0..CUSTOMERS {
        if i == CUSTOMERS / 2 {
            // Restart: the process exits, a new one opens the same file.
            drop(store);
            store = SqliteStore::open(&db, StorageKey::from_bytes(key_bytes))?;
            business = store.load_identity()?.ok_or("no identity after restart")?;
            println!(
                "gateway: restarted after {i} customers; {} records on disk, identity {}",
                store.count()?,
                hex8(business.public_key().as_bytes())
            );
        }
        let mut phone = Phone::new(&mut rng)?;
        let bundle = PreKeyBundle::from_bytes(&fetch_bundle(&store, &business, 0)?)?.verify()?;
        phone
            .with_business
            .initiate(&phone.identity, &bundle, &mut rng)?;
        let question = format!("customer {i}: where is my order #{}?", 1000 + i);
        let wire = phone.with_business.encrypt(&mut rng, question.as_bytes())?;

        let peer = *phone.identity.public_key();
        let text = decrypt_and_store(&store, &business, &peer, &wire)?;
        let answer = format!("re: {} -- it ships today", String::from_utf8(text)?);
        let reply = encrypt_and_store(&store, &mut rng, &peer, answer.as_bytes())?;
        let read = phone.read(&reply)?;
        if i % 10 == 0 || i == CUSTOMERS - 1 {
            println!("customer {i:2} reads: {read}");
        }
        phones.push(phone);
    }
    let left = store.load_prekeys()?.ok_or("no prekeys")?;
    println!(
        "gateway: {CUSTOMERS} sessions stored, {} one-time prekeys left (each consumed in the \
         same transaction as the session it created), {} records in the file",
        left.one_time_prekey_ids().count(),
        store.count()?
    );

    // --- Customer 7 reinstalls the app: same identity (restored), no sessions --------------
    let seven = &mut phones[7];
    let peer7 = *seven.identity.public_key();
    let in_flight = seven
        .with_business
        .encrypt(&mut rng, b"sent just before the reinstall")?;
    seven.with_business = SessionRecord::new();
    let bundle = PreKeyBundle::from_bytes(&fetch_bundle(&store, &business, 0)?)?.verify()?;
    seven
        .with_business
        .initiate(&seven.identity, &bundle, &mut rng)?;
    let wire = seven
        .with_business
        .encrypt(&mut rng, b"new phone, same me")?;
    let text = decrypt_and_store(&store, &business, &peer7, &wire)?;
    let rec = store.load_session(&peer7)?.ok_or("no record")?;
    println!(
        "customer  7 reinstalled: gateway reads {:?}; the old session is archived ({} archived)",
        String::from_utf8(text)?,
        rec.archived()
    );
    let text = decrypt_and_store(&store, &business, &peer7, &in_flight)?;
    println!(
        "            the message in flight from the old install still decrypts: {:?}",
        String::from_utf8(text)?
    );
    // That made the old session current again (the session that last decrypted wins); the
    // customer's next message switches the gateway back to the new install's session.
    let wire = seven.with_business.encrypt(&mut rng, b"still there?")?;
    decrypt_and_store(&store, &business, &peer7, &wire)?;
    let reply = encrypt_and_store(&store, &mut rng, &peer7, b"welcome back")?;
    println!("customer  7 reads: {}", seven.read(&reply)?);

    // --- Simultaneous start: the business and a new customer write first at the same time -----
    let mut newcomer = Phone::new(&mut rng)?;
    let peer = *newcomer.identity.public_key();
    let their_bundle = PreKeyBundle::from_bytes(&newcomer.bundle()?)?.verify()?;
    initiate_and_store(&store, &business, &their_bundle, &mut rng)?;
    let from_business = encrypt_and_store(&store, &mut rng, &peer, b"your parcel is delayed")?;
    let our_bundle = PreKeyBundle::from_bytes(&fetch_bundle(&store, &business, 0)?)?.verify()?;
    newcomer
        .with_business
        .initiate(&newcomer.identity, &our_bundle, &mut rng)?;
    let from_customer = newcomer
        .with_business
        .encrypt(&mut rng, b"hi, is my parcel delayed?")?;
    // The two prekey messages cross on the wire.
    let at_gateway = decrypt_and_store(&store, &business, &peer, &from_customer)?;
    let at_phone = newcomer.read(&from_business)?;
    println!(
        "simultaneous start: gateway reads {:?}, customer reads {at_phone:?}",
        String::from_utf8(at_gateway)?
    );
    // Whichever session is used successfully wins; after one exchange both sides agree.
    let reply = encrypt_and_store(&store, &mut rng, &peer, b"yes, by two days, sorry")?;
    println!("            customer reads {:?}", newcomer.read(&reply)?);
    let back = newcomer.with_business.encrypt(&mut rng, b"ok, thanks")?;
    let text = decrypt_and_store(&store, &business, &peer, &back)?;
    let rec = store.load_session(&peer)?.ok_or("no record")?;
    let (ours, theirs) = (
        rec.current().ok_or("no session")?,
        newcomer.with_business.current().ok_or("no session")?,
    );
    println!(
        "            gateway reads {:?}; both current sessions are one handshake: {} \
         (record revision {}, {} archived)",
        String::from_utf8(text)?,
        ours.base_key() == theirs.base_key(),
        rec.revision(),
        rec.archived()
    );

    let size: u64 = ["gateway.db", "gateway.db-wal"]
        .iter()
        .filter_map(|f| std::fs::metadata(dir.0.join(f)).ok())
        .map(|m| m.len())
        .sum();
    println!(
        "done: {} records, {} KiB on disk (database + WAL); nothing in it opens without the \
         storage key",
        store.count()?,
        size / 1024
    );
    Ok(())
}

/// A directory under the system temp dir, removed when the example ends (or fails).
struct TempDir(std::path::PathBuf);

impl TempDir {
    fn new() -> Result<Self> {
        let dir = std::env::temp_dir().join(format!("sealpost-gateway-{}", std::process::id()));
        std::fs::create_dir_all(&dir)?;
        Ok(TempDir(dir))
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn hex8(bytes: &[u8]) -> String {
    bytes[..8].iter().map(|b| format!("{b:02x}")).collect()
}
