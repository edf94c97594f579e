use super::*;

const CLIENT: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(192, 0, 2, 7));

/// The hold of a wrong attempt, released at once.
fn wrong(throttle: &Arc<Throttle>, client: IpAddr, now: Instant) -> Duration {
    match throttle.attempt(client, now, false) {
        Verdict::Refused(held) => held.hold,
        other => panic!("expected a refusal, got {other:?}"),
    }
}

fn failures(throttle: &Arc<Throttle>, client: IpAddr, now: Instant) -> u32 {
    match throttle.attempt(client, now, false) {
        Verdict::Refused(held) => held.failures,
        other => panic!("expected a refusal, got {other:?}"),
    }
}

#[test]
fn holds_double_from_the_second_failure_up_to_the_cap() {
    let throttle = Arc::new(Throttle::new());
    let now = Instant::now();
    let holds: Vec<u64> = (0..7)
        .map(|_| wrong(&throttle, CLIENT, now).as_secs())
        .collect();
    assert_eq!(holds, [0, 1, 2, 4, 8, 8, 8]);
    // Another address starts afresh.
    assert_eq!(
        wrong(&throttle, "192.0.2.8".parse().unwrap(), now),
        Duration::ZERO
    );
}

#[test]
fn a_right_password_is_admitted_at_once_and_forgets_the_failures() {
    let throttle = Arc::new(Throttle::new());
    let now = Instant::now();
    wrong(&throttle, CLIENT, now);
    wrong(&throttle, CLIENT, now);
    // One answer still held: the right password is admitted all the same.
    let still_held = throttle.attempt(CLIENT, now, false);
    assert!(matches!(
        throttle.attempt(CLIENT, now, true),
        Verdict::Admitted
    ));
    assert!(throttle.is_empty());
    drop(still_held);
    assert_eq!(wrong(&throttle, CLIENT, now), Duration::ZERO);
}

#[test]
fn an_address_with_its_answers_held_is_not_checked_until_one_is_given() {
    let throttle = Arc::new(Throttle::new());
    let now = Instant::now();
    let mut held: Vec<Verdict> = (0..MAX_HELD)
        .map(|_| throttle.attempt(CLIENT, now, false))
        .collect();
    // Right or wrong, a further attempt is not looked at.
    assert!(matches!(
        throttle.attempt(CLIENT, now, true),
        Verdict::Unchecked
    ));
    assert!(matches!(
        throttle.attempt(CLIENT, now, false),
        Verdict::Unchecked
    ));
    held.pop();
    assert_eq!(failures(&throttle, CLIENT, now), MAX_HELD + 1);
}

#[test]
fn failures_are_forgotten_after_a_quiet_spell() {
    let throttle = Arc::new(Throttle::new());
    let then = Instant::now();
    for _ in 0..3 {
        wrong(&throttle, CLIENT, then);
    }
    assert_eq!(failures(&throttle, CLIENT, then + FORGET_AFTER), 4);
    let later = then + FORGET_AFTER * 2 + Duration::from_secs(1);
    assert_eq!(failures(&throttle, CLIENT, later), 1);
}

#[test]
fn the_table_never_holds_more_than_its_capacity() {
    let throttle = Arc::new(Throttle::new());
    let start = Instant::now();
    let address = |i: usize| IpAddr::from((0x0a00_0000 + i as u32).to_be_bytes());
    for i in 0..CAPACITY + 100 {
        wrong(
            &throttle,
            address(i),
            start + Duration::from_millis(i as u64),
        );
        assert!(throttle.len() <= CAPACITY);
    }
    assert_eq!(throttle.len(), CAPACITY);
    let end = start + Duration::from_secs(60);
    // The newest are remembered; the oldest made room.
    assert_eq!(failures(&throttle, address(CAPACITY + 99), end), 2);
    assert_eq!(failures(&throttle, address(0), end), 1);
}

#[test]
fn an_ipv6_client_counts_by_its_64_and_a_mapped_ipv4_as_itself() {
    let throttle = Arc::new(Throttle::new());
    let now = Instant::now();
    let ip = |text: &str| text.parse::<IpAddr>().unwrap();
    assert_eq!(failures(&throttle, ip("2001:db8::1"), now), 1);
    assert_eq!(failures(&throttle, ip("2001:db8::2:3"), now), 2);
    assert_eq!(failures(&throttle, ip("2001:db8:0:1::1"), now), 1);
    assert_eq!(failures(&throttle, ip("192.0.2.1"), now), 1);
    assert_eq!(failures(&throttle, ip("::ffff:192.0.2.1"), now), 2);
}

#[tokio::test]
async fn a_gate_holds_a_wrong_password_and_never_a_right_one() {
    let auth = Arc::new(ProxyAuth {
        username: "alice".into(),
        password: "wonderland-42".into(),
    });
    let gate = Gate::new(auth).throttled(Arc::new(Throttle::new()), CLIENT);
    assert!(!gate.admit("alice", "rabbit").await, "the first failure");
    let before = Instant::now();
    let second = tokio::spawn({
        let gate = gate.clone();
        async move { gate.admit("alice", "hatter").await }
    });
    // The second failure is now held (this runtime has one thread: the
    // spawned task runs only while this one yields).
    tokio::task::yield_now().await;
    assert!(gate.admit("alice", "wonderland-42").await);
    assert!(
        !second.is_finished(),
        "the wrong password was answered before the right one"
    );
    assert!(!second.await.unwrap());
    assert!(
        before.elapsed() >= FIRST_HOLD,
        "the second failure was not held"
    );
}
