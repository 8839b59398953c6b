//! Ctrl-C. A command ends at once with exit code 130, whatever it is waiting for (the
//! state lock, VVP, Kafka, a prompt); nothing is half written, as every state write is
//! atomic. Only while apply carries out its steps ([`Interrupt::graceful`]) does ctrl-c
//! instead raise the flag the executor reads: the steps in flight finish and are
//! journaled, and apply stops.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

/// The exit code after ctrl-c (128 + SIGINT), as shells and Terraform use it.
pub const EXIT: u8 = 130;

/// What ctrl-c does in this run: the flag it raises in a graceful section, and how many
/// such sections are open.
#[derive(Clone, Debug, Default)]
pub struct Interrupt {
    flag: Arc<AtomicBool>,
    graceful: Arc<AtomicUsize>,
}

impl Interrupt {
    /// Installs the process's ctrl-c handler, bound to the returned value. The handler
    /// can be installed once: a second call returns a value no handler raises.
    pub fn install() -> Interrupt {
        let interrupt = Interrupt::default();
        let seen = interrupt.clone();
        let _ = ctrlc::set_handler(move || {
            if seen.graceful.load(Ordering::SeqCst) > 0 {
                seen.flag.store(true, Ordering::SeqCst);
            } else {
                eprintln!("\ninterrupted");
                std::process::exit(i32::from(EXIT));
            }
        });
        interrupt
    }

    /// The flag ctrl-c raises while a [`Graceful`] section is open.
    pub fn flag(&self) -> &AtomicBool {
        &self.flag
    }

    /// Opens a section in which ctrl-c is left to the code that reads [`Interrupt::flag`].
    pub fn graceful(&self) -> Graceful {
        self.graceful.fetch_add(1, Ordering::SeqCst);
        Graceful(self.graceful.clone())
    }
}

/// While alive, ctrl-c raises the flag instead of ending the process.
pub struct Graceful(Arc<AtomicUsize>);

impl Drop for Graceful {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}
