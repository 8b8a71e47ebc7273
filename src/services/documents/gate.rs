//! How many uploaded documents are read at once. Reading a PDF runs a child process for up to
//! its wall-clock limit: on the request's own blocking thread (the threads every database call
//! needs) a few hostile uploads at once would stall every page. So readings go through this
//! gate: a few run at a time, each on a thread of its own; a few more wait for a slot, without
//! holding a thread; one database has at most a few in flight; and a request that cannot get a
//! slot soon is answered at once that the service is busy.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::Semaphore;

use crate::kernel::ids::DatabaseId;

/// The gate's sizes.
#[derive(Debug, Clone, Copy)]
pub struct GateSettings {
    /// Readings that run at once (each a child process on a thread of its own).
    pub slots: usize,
    /// Readings that may wait for a slot; past it, the next is told the service is busy.
    pub queue: usize,
    /// Readings (running or waiting) one database may have in flight.
    pub per_database: usize,
    /// The longest a reading waits for a slot before the request is told to try again.
    pub wait: Duration,
}

impl Default for GateSettings {
    fn default() -> Self {
        GateSettings {
            slots: 2,
            queue: 4,
            per_database: 2,
            wait: Duration::from_secs(3),
        }
    }
}

/// Why a reading did not run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("{}", self.message())]
pub enum Busy {
    /// This database has its most readings in flight.
    Database,
    /// Every slot is taken and the queue full, or no slot came free in time.
    Everyone,
    /// The reading's thread ended without an answer.
    Crashed,
}

impl Busy {
    /// What the user is told.
    pub fn message(self) -> &'static str {
        match self {
            Busy::Database => {
                "Your database already has documents being read. Wait a few seconds for them, then try again."
            }
            Busy::Everyone => "Many documents are being read just now. Try again in a few seconds.",
            Busy::Crashed => "The document reader stopped unexpectedly. Try again.",
        }
    }
}

/// The gate; clones share it.
#[derive(Clone)]
pub struct ReaderGate {
    settings: GateSettings,
    slots: Arc<Semaphore>,
    admitted: Arc<Mutex<Admitted>>,
}

#[derive(Default)]
struct Admitted {
    total: usize,
    by_database: HashMap<DatabaseId, usize>,
}

/// A reading let in: counted until it is dropped (when the reading is over, even if the request
/// that asked for it went away).
struct Ticket {
    admitted: Arc<Mutex<Admitted>>,
    database_id: DatabaseId,
}

impl Drop for Ticket {
    fn drop(&mut self) {
        let mut admitted = self.admitted.lock().unwrap_or_else(|e| e.into_inner());
        admitted.total -= 1;
        if let Some(n) = admitted.by_database.get_mut(&self.database_id) {
            *n -= 1;
            if *n == 0 {
                admitted.by_database.remove(&self.database_id);
            }
        }
    }
}

impl Default for ReaderGate {
    fn default() -> Self {
        ReaderGate::new(GateSettings::default())
    }
}

impl ReaderGate {
    pub fn new(settings: GateSettings) -> Self {
        ReaderGate {
            settings,
            slots: Arc::new(Semaphore::new(settings.slots.max(1))),
            admitted: Arc::new(Mutex::new(Admitted::default())),
        }
    }

    fn admit(&self, database_id: DatabaseId) -> Result<Ticket, Busy> {
        let mut admitted = self.admitted.lock().unwrap_or_else(|e| e.into_inner());
        let mine = admitted.by_database.get(&database_id).copied().unwrap_or(0);
        if mine >= self.settings.per_database {
            return Err(Busy::Database);
        }
        if admitted.total >= self.settings.slots + self.settings.queue {
            return Err(Busy::Everyone);
        }
        admitted.total += 1;
        *admitted.by_database.entry(database_id).or_default() += 1;
        Ok(Ticket {
            admitted: self.admitted.clone(),
            database_id,
        })
    }

    /// Runs `reading` (blocking work: a child process) for `database_id` on a thread of its
    /// own once a slot is free; the caller awaits it without holding a thread.
    pub async fn read<T, F>(&self, database_id: DatabaseId, reading: F) -> Result<T, Busy>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        let ticket = self.admit(database_id)?;
        let slot = tokio::time::timeout(self.settings.wait, self.slots.clone().acquire_owned())
            .await
            .map_err(|_| Busy::Everyone)?
            .map_err(|_| Busy::Everyone)?;
        let (answer, answered) = tokio::sync::oneshot::channel();
        let spawned = std::thread::Builder::new()
            .name("document-reader".into())
            .spawn(move || {
                let read = reading();
                // The slot and the ticket are given back when the reading is over, not when
                // the request stops waiting for it.
                drop((slot, ticket));
                let _ = answer.send(read);
            });
        if spawned.is_err() {
            return Err(Busy::Everyone);
        }
        answered.await.map_err(|_| Busy::Crashed)
    }

    /// Readings running or waiting now (for tests and metrics).
    pub fn in_flight(&self) -> usize {
        self.admitted
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .total
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Barrier;

    fn db(n: i64) -> DatabaseId {
        DatabaseId(n)
    }

    #[actix_web::test]
    async fn one_database_cannot_take_every_slot_and_the_queue_is_bounded() {
        let gate = ReaderGate::new(GateSettings {
            slots: 1,
            queue: 1,
            per_database: 1,
            wait: Duration::from_millis(200),
        });
        let release = Arc::new(Barrier::new(2));
        let running = {
            let (gate, release) = (gate.clone(), release.clone());
            actix_web::rt::spawn(async move {
                gate.read(db(1), move || {
                    release.wait();
                    7
                })
                .await
            })
        };
        while gate.in_flight() == 0 {
            actix_web::rt::time::sleep(Duration::from_millis(5)).await;
        }
        // The same database again: refused at once.
        assert_eq!(gate.read(db(1), || 1).await, Err(Busy::Database));
        // Another database waits for the slot, and is told to come back when it does not come.
        let started = std::time::Instant::now();
        assert_eq!(gate.read(db(2), || 2).await, Err(Busy::Everyone));
        assert!(started.elapsed() < Duration::from_secs(2));
        release.wait();
        assert_eq!(running.await.unwrap(), Ok(7));
        assert_eq!(gate.read(db(2), || 2).await, Ok(2));
        assert_eq!(gate.in_flight(), 0);
    }
}
