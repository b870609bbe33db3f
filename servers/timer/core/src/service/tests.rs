//! The Timer protocol's logic against a recording stand-in for the device
//! and the kernel: each client hears of its own expiries only, once per
//! batch, through the notification it handed over; the device is always
//! armed for the earliest deadline; refusals change nothing; a client that
//! is gone leaves nothing behind.

use super::*;
use alloc::vec::Vec;
use keel_abi::CapType;
use keel_protocols::cap::ReceivedCap;
use keel_protocols::{ActivityId, ClientBadge, ClientId, Rights};

#[derive(Default)]
struct Device {
    now: u64,
    kept: Vec<Client>,
    dead: Vec<Client>,
    signals: Vec<Client>,
    armed: Option<u64>,
    refuse_keep: bool,
}

impl Hardware for Device {
    fn now_ns(&self) -> u64 {
        self.now
    }
    fn keep(&mut self, client: Client, _n: Granted<Notification>) -> Result<(), TimerError> {
        if self.refuse_keep {
            return Err(TimerError::CannotKeep);
        }
        self.kept.retain(|&c| c != client);
        self.kept.push(client);
        Ok(())
    }
    fn drop_kept(&mut self, client: Client) {
        self.kept.retain(|&c| c != client);
    }
    fn kept(&self, client: Client) -> bool {
        self.kept.contains(&client) && !self.dead.contains(&client)
    }
    fn signal(&mut self, client: Client) {
        self.signals.push(client);
    }
    fn arm(&mut self, deadline_ns: Option<u64>) {
        self.armed = deadline_ns;
    }
}

fn caller(client: u16) -> Caller {
    let badge = ClientBadge::new(ClientId::new(client).unwrap(), ActivityId(1), Rights::NONE);
    Caller {
        badge,
        activity: badge.activity(),
    }
}

fn notification() -> Granted<Notification> {
    Granted::check(ReceivedCap::Transferred {
        cptr: 40,
        kind: CapType::Notification,
    })
    .unwrap()
}

fn service() -> TimerService<Device> {
    TimerService::new(Device::default())
}

fn advance(s: &mut TimerService<Device>, to: u64) {
    s.hardware.now = to;
    s.interrupt();
}

#[test]
fn a_client_hears_of_its_expiry_once_and_asks_which() {
    let mut s = service();
    s.notify_with(&caller(1), notification()).unwrap();
    s.set_timeout(&caller(1), 3, 1_000, 0).unwrap();
    s.set_timeout(&caller(1), 5, 1_000, 0).unwrap();
    assert_eq!(s.hardware().armed, Some(1_000));
    advance(&mut s, 999);
    assert!(s.hardware().signals.is_empty());
    advance(&mut s, 1_000);
    assert_eq!(s.hardware().signals, [1]);
    assert_eq!(s.expired(&caller(1)), Ok((1 << 3) | (1 << 5)));
    assert_eq!(s.hardware().armed, None);
}

#[test]
fn clients_are_told_apart_and_a_client_without_a_notification_polls() {
    let mut s = service();
    s.notify_with(&caller(1), notification()).unwrap();
    s.set_timeout(&caller(1), 0, 500, 0).unwrap();
    s.set_timeout(&caller(2), 0, 300, 0).unwrap();
    assert_eq!(s.hardware().armed, Some(300));
    advance(&mut s, 600);
    assert_eq!(
        s.hardware().signals,
        [1],
        "client 2 handed over no notification"
    );
    assert_eq!(s.expired(&caller(2)), Ok(1));
    assert_eq!(s.expired(&caller(1)), Ok(1));
    assert_eq!(s.now(&caller(2)), Ok(600));
}

#[test]
fn a_periodic_timeout_rearms_and_a_past_deadline_expires_at_once() {
    let mut s = service();
    s.notify_with(&caller(1), notification()).unwrap();
    s.hardware.now = 100;
    s.set_timeout(&caller(1), 1, 50, 0).unwrap();
    assert_eq!(
        s.hardware().signals,
        [1],
        "a deadline already past expires at once"
    );
    s.set_timeout(&caller(1), 2, 200, 100).unwrap();
    assert_eq!(s.expired(&caller(1)), Ok(1 << 1));
    advance(&mut s, 200);
    assert_eq!(s.hardware().armed, Some(300));
    assert_eq!(s.expired(&caller(1)), Ok(1 << 2));
    s.cancel(&caller(1), 2).unwrap();
    assert_eq!(s.hardware().armed, None);
}

#[test]
fn refusals_change_nothing() {
    let mut s = service();
    assert_eq!(
        s.set_timeout(&caller(1), 64, 10, 0),
        Err(TimerError::BadNumber)
    );
    assert_eq!(s.cancel(&caller(1), 0), Err(TimerError::NotSet));
    assert_eq!(s.hardware().armed, None);
    s.hardware.refuse_keep = true;
    assert_eq!(
        s.notify_with(&caller(1), notification()),
        Err(TimerError::CannotKeep)
    );
    s.set_timeout(&caller(1), 0, 10, 0).unwrap();
    advance(&mut s, 10);
    assert!(s.hardware().signals.is_empty(), "no notification was kept");
}

#[test]
fn a_client_that_is_gone_leaves_nothing() {
    let mut s = service();
    s.notify_with(&caller(1), notification()).unwrap();
    s.set_timeout(&caller(1), 0, 10, 5).unwrap();
    s.set_timeout(&caller(2), 0, 40, 0).unwrap();
    s.client_gone(1);
    assert!(s.hardware().kept.is_empty());
    assert_eq!(s.hardware().armed, Some(40));
    advance(&mut s, 40);
    assert!(s.hardware().signals.is_empty());
    assert_eq!(s.expired(&caller(2)), Ok(1));
}

#[test]
fn a_dead_clients_timeouts_are_dropped_at_delivery() {
    let mut s = service();
    s.notify_with(&caller(1), notification()).unwrap();
    for n in 0..crate::TIMEOUTS_PER_CLIENT as u8 {
        s.set_timeout(&caller(1), n, 10 + u64::from(n), 7).unwrap();
    }
    s.hardware.dead.push(1);
    advance(&mut s, 10);
    assert!(
        s.hardware().signals.is_empty(),
        "a dead client is not signalled"
    );
    assert!(s.hardware().kept.is_empty());
    assert_eq!(s.hardware().armed, None, "its periodic timeouts went");
    // A new instance under the badge starts with none.
    s.set_timeout(&caller(1), 40, 100, 0).unwrap();
    assert_eq!(s.expired(&caller(1)), Ok(0));
}

#[test]
fn a_new_instance_handing_over_its_notification_drops_the_dead_ones_timeouts() {
    let mut s = service();
    s.notify_with(&caller(1), notification()).unwrap();
    s.set_timeout(&caller(1), 0, 10, 0).unwrap();
    s.set_timeout(&caller(1), 1, 20, 5).unwrap();
    // It died: the kept copy of its notification went with it.
    s.hardware.kept.clear();
    s.notify_with(&caller(1), notification()).unwrap();
    assert_eq!(s.hardware().armed, None);
    advance(&mut s, 30);
    assert!(s.hardware().signals.is_empty());
}
