//! The phases of a profiling run and the parent's side of running them: the in-process server, the generator, the publisher.
//!
//! A [`Session`] runs one phase at a time and returns when the phase is over on both
//! sides: the generator has answered `done` and the server's hub has the expected number
//! of subscribers. What is measured around each phase (heap statistics, CPU time) is the
//! caller's business ([`crate::heap`], [`crate::cpu`]); the phases are the same for both.
//!
//! ## Fan-out flow control
//! The publisher publishes `batch` events, then waits until the generator reports that
//! every stream has received all but the newest batch, so at most two batches are in
//! flight. No subscriber can lag behind the hub's channel, no event is lost, and the run
//! measures delivery rather than the eviction of lagging clients.

use std::time::Duration;

use sse_bench::drive::driver::{Driver, DriverError};
pub use sse_bench::drive::protocol::Phase;
use sse_bench::drive::protocol::{Command, Reply};
use sse_server::Running;
use sse_server::running::ServeFuture;

use crate::server::{self, HubPublisher, ServerError, await_subscribers, profiling_config};
use crate::workload::Workload;

/// Batches of fan-out in the warm-up.
pub const WARMUP_BATCHES: u64 = 4;

/// Why a phase failed.
#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    /// Talking to the generator failed.
    #[error(transparent)]
    Driver(#[from] DriverError),
    /// The in-process server failed.
    #[error(transparent)]
    Server(#[from] ServerError),
    /// The generator finished a phase with the wrong count.
    #[error("phase {phase}: the load generator reported {got}, expected {expected}")]
    Count {
        /// The phase.
        phase: &'static str,
        /// What the workload asks for.
        expected: u64,
        /// What the generator reported.
        got: u64,
    },
}

/// The in-process server, the generator and the publisher of one run.
#[derive(Debug)]
pub struct Session {
    server: Running,
    driver: Driver,
    publisher: HubPublisher,
    workload: Workload,
    config: sse_server::Config,
    timeout: Duration,
}

impl Session {
    /// Starts the in-process server (its serve future passed through `wrap`, e.g. to
    /// instrument it), then the generator that `generator` builds for the server's base
    /// URL (it must answer `ready`).
    ///
    /// # Errors
    /// The server or the generator did not start.
    pub async fn launch<W, F>(
        workload: Workload,
        timeout: Duration,
        wrap: W,
        generator: impl FnOnce(&str) -> tokio::process::Command,
    ) -> Result<Self, SessionError>
    where
        W: FnOnce(ServeFuture) -> F,
        F: std::future::Future<Output = std::io::Result<()>> + Send + 'static,
    {
        let config = profiling_config();
        let server = server::start(config.clone(), wrap).await?;
        let driver = Driver::spawn(generator(&server.base_url()), timeout).await?;
        let publisher = HubPublisher::new(server.hub().clone(), workload.frame_bytes as usize);
        Ok(Self {
            server,
            driver,
            publisher,
            workload,
            config,
            timeout,
        })
    }

    /// The configuration the server runs with.
    pub fn config(&self) -> &sse_server::Config {
        &self.config
    }

    /// The in-process server.
    pub fn server(&self) -> &Running {
        &self.server
    }

    /// The workload.
    pub fn workload(&self) -> &Workload {
        &self.workload
    }

    /// The generator's process id.
    pub fn generator_pid(&self) -> Option<u32> {
        self.driver.pid()
    }

    /// Runs `phase` to its end; returns the generator's count (streams, events received, cycles).
    ///
    /// # Errors
    /// The generator failed, timed out or miscounted; or the server did not settle.
    pub async fn run(&mut self, phase: Phase) -> Result<u64, SessionError> {
        let w = self.workload;
        let (count, expected) = match phase {
            Phase::Warmup => {
                // Fill the replay ring so later publishing frees as much as it allocates.
                self.publisher.publish(self.config.replay_capacity as u64)?;
                let cycles = w.warmup_cycles;
                self.command(Command::Warmup { cycles }, phase).await?;
                // One small round of everything at full concurrency, so containers that
                // size themselves by the peak number of connections or queued writes
                // have grown before the first measurement.
                self.expect(
                    Command::Connect {
                        streams: w.subscribers,
                    },
                    Phase::Idle,
                    w.subscribers,
                )
                .await?;
                await_subscribers(self.server.hub(), w.subscribers as usize, self.timeout).await?;
                let events = WARMUP_BATCHES * w.batch;
                let delivered = self.fanout(events).await?;
                self.check(Phase::Fanout, events * w.subscribers, delivered)?;
                self.expect(Command::Disconnect, Phase::Disconnect, w.subscribers)
                    .await?;
                (cycles, cycles)
            }
            Phase::Idle => {
                let streams = w.subscribers;
                (self.command(Command::Connect { streams }, phase).await?, streams)
            }
            Phase::Fanout => (self.fanout(w.events).await?, w.deliveries()),
            Phase::Cycles => {
                let count = w.cycles;
                (self.command(Command::Cycles { count }, phase).await?, count)
            }
            Phase::Disconnect => (self.command(Command::Disconnect, phase).await?, w.subscribers),
        };
        self.check(phase, expected, count)?;
        let subscribers = match phase {
            Phase::Idle | Phase::Fanout | Phase::Cycles => w.subscribers as usize,
            Phase::Warmup | Phase::Disconnect => 0,
        };
        await_subscribers(self.server.hub(), subscribers, self.timeout).await?;
        Ok(count)
    }

    async fn command(&mut self, command: Command, phase: Phase) -> Result<u64, SessionError> {
        Ok(self.driver.run(command, phase, self.timeout).await?)
    }

    async fn expect(&mut self, command: Command, phase: Phase, expected: u64) -> Result<(), SessionError> {
        let count = self.command(command, phase).await?;
        self.check(phase, expected, count)
    }

    fn check(&self, phase: Phase, expected: u64, got: u64) -> Result<(), SessionError> {
        if got == expected {
            Ok(())
        } else {
            Err(SessionError::Count {
                phase: phase.name(),
                expected,
                got,
            })
        }
    }

    /// Publishes `events` events in batches with flow control (see the module docs).
    async fn fanout(&mut self, events: u64) -> Result<u64, SessionError> {
        let batch = self.workload.batch;
        self.driver.send(Command::Fanout { events, batch }).await?;
        let mut published = 0;
        let mut acked = 0;
        while published < events {
            let n = batch.min(events - published);
            self.publisher.publish(n)?;
            published += n;
            while published - acked.min(published) > batch {
                match self.driver.reply("`progress`", self.timeout).await? {
                    Reply::Progress(k) => acked = acked.max(k),
                    other => return Err(self.driver.unexpected("`progress`", &other).into()),
                }
            }
        }
        loop {
            match self.driver.reply(Phase::Fanout.done_line(), self.timeout).await? {
                Reply::Progress(_) => {}
                Reply::Done {
                    phase: Phase::Fanout,
                    count,
                } => return Ok(count),
                other => return Err(self.driver.unexpected(Phase::Fanout.done_line(), &other).into()),
            }
        }
    }

    /// Stops the generator and the server.
    ///
    /// # Errors
    /// Either did not stop cleanly.
    pub async fn finish(self) -> Result<(), SessionError> {
        self.driver.quit(self.timeout).await?;
        self.server.stop(self.timeout).await.map_err(ServerError::from)?;
        Ok(())
    }
}
