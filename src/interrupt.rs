//! Ctrl-C. A command ends at once with exit code 130, whatever it is waiting for (the
//! state lock, VVP, Kafka, a prompt); nothing is half written, as every state write is
//! atomic. Only while apply carries out its steps ([`graceful`]) does ctrl-c instead
//! raise the flag the executor reads: the steps in flight finish and are journaled, and
//! apply stops.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

/// The exit code after ctrl-c (128 + SIGINT), as shells and Terraform use it.
pub const EXIT: u8 = 130;

static FLAG: AtomicBool = AtomicBool::new(false);
static GRACEFUL: AtomicUsize = AtomicUsize::new(0);

/// Installs the handler; a second call changes nothing.
pub fn install() {
    let _ = ctrlc::set_handler(|| {
        if GRACEFUL.load(Ordering::SeqCst) > 0 {
            FLAG.store(true, Ordering::SeqCst);
        } else {
            eprintln!("\ninterrupted");
            std::process::exit(i32::from(EXIT));
        }
    });
}

/// The flag ctrl-c raises while a [`Graceful`] section is open.
pub fn flag() -> &'static AtomicBool {
    &FLAG
}

/// While alive, ctrl-c raises [`flag`] instead of ending the process.
pub struct Graceful(());

/// Opens a section in which ctrl-c is left to the code that reads [`flag`].
pub fn graceful() -> Graceful {
    GRACEFUL.fetch_add(1, Ordering::SeqCst);
    Graceful(())
}

impl Drop for Graceful {
    fn drop(&mut self) {
        GRACEFUL.fetch_sub(1, Ordering::SeqCst);
    }
}
