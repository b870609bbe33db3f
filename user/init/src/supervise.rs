//! Supervision: init's receive loop. Every message on init's endpoint comes
//! from a program, named by its badge: a fault (the label is the kernel's
//! fault type) or an Init request (the label names the Init protocol).
//!
//! ```text
//!  ready (server)  -> Running; a passive server's context is unbound
//!  relocate (memory client) -> moved to another slave (see `relocation`)
//!  exit (app)      -> torn down; Exited(status)
//!  fault, or exit of a server
//!                  -> the request it was serving is answered ServerFailed,
//!                     torn down (one revoke of its untyped), then started
//!                     again if `restart = "always"` and under its limit,
//!                     else Stopped with a report
//! ```

use alloc::format;
use keel_abi::fault::FaultType;
use keel_abi::manifest::{Restart, Role};
use keel_abi::MessageInfo;
use keel_protocols::badge::{classify, ClientBadge, Delivered};
use keel_protocols::init::{dispatch, InitError as Refusal, InitServer, PROTOCOL};
use keel_protocols::server::Answer;
use keel_protocols::wire::{Incoming, Label, OutMessage, REPLY_RPC_ERROR};
use keel_protocols::{Caller, RpcError, ServerTransport};
use keel_sys::cap::{init_thread, Reply};
use keel_sys::{CPtr, Cap};

use crate::memory::{REPLY, UNTYPED};
use crate::{Context, InitError, State, System};

/// What one message to init did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Event {
    /// A server announced that it serves.
    Ready(usize),
    /// An app exited with this status and was torn down.
    Exited {
        /// The program.
        program: usize,
        /// Its status.
        status: u32,
    },
    /// A program failed and was started again.
    Restarted {
        /// The program.
        program: usize,
        /// How it failed.
        failure: Failure,
    },
    /// A program failed and stays stopped (no restart, or past its limit).
    Stopped {
        /// The program.
        program: usize,
        /// How it failed.
        failure: Failure,
    },
    /// A memory client asked to be moved to another slave.
    Relocated {
        /// The client.
        program: usize,
        /// The slave it was moved to; `None` when it stays.
        to: Option<usize>,
    },
    /// A message init does not accept (an unknown sender, a malformed
    /// request); a request was answered with the error.
    Refused,
}

/// How a program failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Failure {
    /// It faulted: the kernel's fault type and the message's first word
    /// (the faulting instruction's address for most types).
    Fault {
        /// The fault type.
        kind: FaultType,
        /// Word 0 of the fault message.
        word: u64,
    },
    /// A server exited (servers serve forever).
    Exit(u32),
    /// Starting a new instance failed.
    Start(InitError),
}

/// The Init request being answered: what its sender asked for.
struct Request {
    event: Option<Event>,
    is_server: bool,
    program: usize,
    exited: Option<u32>,
}

impl InitServer for Request {
    fn ready(&mut self, _caller: &Caller) -> Result<(), Refusal> {
        if !self.is_server {
            return Err(Refusal::NotAServer);
        }
        self.event = Some(Event::Ready(self.program));
        Ok(())
    }

    fn exit(&mut self, _caller: &Caller, status: u32) -> Result<(), Refusal> {
        self.exited = Some(status);
        Ok(())
    }
}

impl System<'_> {
    /// Receives one message and acts on it: [`System::receive`], then
    /// [`System::handle`].
    pub fn step(&mut self) -> Event {
        let incoming = self.receive();
        self.handle(&incoming)
    }

    /// Sends the reply owed to the last Init request (if any) and waits for
    /// the next message on init's endpoint, without acting on it. Split from
    /// [`System::handle`] so that a benchmark can time from a message's
    /// arrival; everyone else calls [`System::step`].
    pub fn receive(&mut self) -> Incoming {
        let owed = self.owed_reply.take();
        let answer = owed.as_ref().map_or(Answer::Nothing, Answer::Message);
        let arrival = self.transport.exchange(answer);
        let mut incoming = Incoming::default();
        self.transport.read(&arrival, &mut incoming);
        incoming
    }

    /// Acts on a message [`System::receive`] returned.
    pub fn handle(&mut self, incoming: &Incoming) -> Event {
        if let Ok(Delivered::Signals(_)) = classify(incoming.badge) {
            // The process server's notification: an app it started ended.
            return self.reap_spawned();
        }
        let Some(program) = self.sender(incoming.badge) else {
            return Event::Refused;
        };
        let label = Label::split(incoming.message.label);
        if label.protocol == PROTOCOL {
            return self.request(program, incoming);
        }
        if label.protocol == keel_protocols::relocation::PROTOCOL {
            return self.relocation(program, incoming);
        }
        match FaultType::try_from(incoming.message.label) {
            Ok(kind) if kind != FaultType::NullFault => {
                let word = incoming.message.words[0];
                self.fail(program, Failure::Fault { kind, word })
            }
            _ => {
                let mut reply = OutMessage::new();
                keel_protocols::server::write_error(
                    &mut reply,
                    Refusal::Rpc(RpcError::WrongProtocol {
                        expected: PROTOCOL,
                        got: label.protocol,
                    }),
                );
                self.owed_reply = Some(reply);
                Event::Refused
            }
        }
    }

    /// Steps until every started app has exited or stopped; returns the
    /// system's status: the first nonzero status of an app (or 1 for an
    /// app that failed), else 0.
    pub fn run(&mut self) -> u32 {
        let mut status = 0;
        while self.apps_running() {
            match self.step() {
                Event::Exited { status: s, .. } if status == 0 => status = s,
                Event::Stopped { program, .. }
                    if status == 0 && self.manifest.programs[program].role == Role::App =>
                {
                    status = 1;
                }
                _ => {}
            }
        }
        status
    }

    /// Steps until server `index` is serving.
    ///
    /// # Errors
    /// It stopped for good before it was ready.
    pub fn until_ready(&mut self, index: usize) -> Result<(), InitError> {
        loop {
            match self.programs[index].state {
                State::Running => return Ok(()),
                State::Starting => {
                    self.step();
                }
                _ => {
                    return Err(InitError {
                        step: "wait for a server to be ready (it stopped)",
                        error: keel_abi::Error::IllegalOperation.into(),
                    })
                }
            }
        }
    }

    fn apps_running(&self) -> bool {
        self.manifest
            .programs
            .iter()
            .zip(&self.programs)
            .any(|(p, s)| {
                p.role == Role::App && matches!(s.state, State::Starting | State::Running)
            })
    }

    /// The program a badge names, if it is one init started.
    fn sender(&self, badge: u64) -> Option<usize> {
        let index = usize::from(ClientBadge::from_bits(badge).ok()?.client().get());
        let running = self
            .programs
            .get(index)
            .is_some_and(|p| p.process.is_some());
        running.then_some(index)
    }

    /// Answers an Init request from `program`.
    fn request(&mut self, program: usize, incoming: &Incoming) -> Event {
        let mut request = Request {
            event: None,
            is_server: self.manifest.programs[program].role == Role::Server,
            program,
            exited: None,
        };
        let mut reply = OutMessage::new();
        dispatch(&mut request, incoming, &mut reply);
        if let Some(status) = request.exited {
            // The program is torn down; nobody waits for a reply.
            return match request.is_server {
                true => self.fail(program, Failure::Exit(status)),
                false => {
                    self.teardown(program);
                    self.programs[program].state = State::Exited(status);
                    self.say(&format!(
                        "init: {} exited with status {status}",
                        self.manifest.programs[program].name
                    ));
                    Event::Exited { program, status }
                }
            };
        }
        self.owed_reply = Some(reply);
        match request.event {
            Some(Event::Ready(p)) => {
                self.ready(p);
                Event::Ready(p)
            }
            _ => Event::Refused,
        }
    }

    /// A server serves: a passive one gives up its scheduling context.
    fn ready(&mut self, program: usize) {
        let passive = self.manifest.programs[program]
            .sched
            .is_some_and(|s| s.passive);
        let state = &mut self.programs[program];
        if state.state != State::Starting {
            return;
        }
        state.state = State::Running;
        if let (true, Some(process)) = (passive, state.process) {
            if let Err(e) = process.sched_context.sched_context_unbind() {
                self.say(&format!("init: making a server passive failed: {e}"));
            }
        }
        if self.scheduler() == Some(program) {
            self.scheduler_ready();
        }
        self.slave_ready(program);
        self.accounting_ready(program);
    }

    /// `program` failed: answer its in-flight request, tear it down, and
    /// restart it if its policy allows.
    fn fail(&mut self, program: usize, failure: Failure) -> Event {
        let p = &self.manifest.programs[program];
        self.say(&format!("init: {} failed: {}", p.name, describe(failure)));
        if self.programs[program].endpoint.is_some() {
            self.answer_in_flight(program);
        }
        self.teardown(program);
        let restart = match p.restart {
            Restart::Always { limit } => self.programs[program].restarts < limit,
            Restart::Never => false,
        };
        if restart {
            self.programs[program].restarts += 1;
            match self.start(program) {
                Ok(()) => return Event::Restarted { program, failure },
                Err(e) => return self.fail(program, Failure::Start(e)),
            }
        }
        self.programs[program].state = State::Stopped;
        self.say(&format!(
            "init: {} stopped after {} restarts",
            p.name, self.programs[program].restarts
        ));
        Event::Stopped { program, failure }
    }

    /// Answers the request a failed server was serving, if any, with
    /// `ServerFailed` through init's copy of its Reply object.
    fn answer_in_flight(&self, program: usize) {
        let reply: Cap<Reply> =
            Cap::from_cptr(CPtr::from_bits(self.programs[program].block + REPLY));
        let [kind, a, b] = RpcError::ServerFailed.to_words();
        reply.reply(MessageInfo::new(REPLY_RPC_ERROR, 0, 0, 3), [kind, a, b, 0]);
    }

    /// Destroys the instance of `program`: one revoke of its untyped.
    fn teardown(&mut self, program: usize) {
        self.detach_client(program);
        let block = self.programs[program].block;
        let untyped = init_thread::CNODE.absolute_cptr(CPtr::from_bits(block + UNTYPED));
        if let Err(e) = untyped.revoke().context("tear a program down") {
            self.say(&format!("init: {e}"));
        }
        self.programs[program].process = None;
    }
}

/// A failure in words, for init's report.
fn describe(failure: Failure) -> alloc::string::String {
    match failure {
        Failure::Fault { kind, word } => format!("{kind:?} (word 0: {word:#x})"),
        Failure::Exit(status) => format!("a server exited with status {status}"),
        Failure::Start(e) => format!("starting it again failed: {e}"),
    }
}
