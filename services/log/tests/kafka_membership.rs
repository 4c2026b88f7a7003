//! Group membership on a real Kafka-protocol broker (nisshi, started by
//! `tests/setup/kafka.sh`; `KAFKA_BROKERS` overrides where it is): the
//! partitions are split between live members, a revocation waits for the
//! member's acknowledgement, and a member that leaves or stops
//! heartbeating loses its partitions to the others.

use closeloop_log::kafka::{KafkaLog, KafkaOptions};
use closeloop_log::{testsuite, Assignment, EventLog, Membership};
use std::collections::BTreeSet;
use std::time::{Duration, Instant};

const HOW_TO_START: &str =
    "start one with tests/setup/kafka.sh (it prints KAFKA_BROKERS), or set KAFKA_BROKERS";

async fn connect(partitions: u32) -> KafkaLog {
    let brokers = std::env::var("KAFKA_BROKERS").unwrap_or_else(|_| "127.0.0.1:29092".into());
    let options = KafkaOptions {
        brokers: vec![brokers.clone()],
        default_partitions: partitions,
        session_timeout: Duration::from_secs(6),
        ..KafkaOptions::default()
    };
    match KafkaLog::connect(options).await {
        Ok(log) => log,
        Err(error) => panic!("no Kafka broker answers at {brokers} ({error}); {HOW_TO_START}"),
    }
}

/// Waits until `member`'s assignment satisfies `done`, acknowledging every
/// assignment it sees as a well-behaved member does.
async fn wait_until(
    member: &mut Membership,
    what: &str,
    done: impl Fn(&Assignment) -> bool,
) -> Assignment {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let now = member.current();
        member.acknowledge(now.generation);
        if done(&now) {
            return now;
        }
        assert!(
            Instant::now() < deadline,
            "{what}: still {now:?} after 30 s"
        );
        let _ = tokio::time::timeout(Duration::from_millis(200), member.changed()).await;
    }
}

/// A member acknowledging every assignment in the background, as a
/// running member does, until it is handed back.
struct Acknowledging {
    stop: tokio::sync::oneshot::Sender<()>,
    task: tokio::task::JoinHandle<Membership>,
}

fn keep_acknowledging(mut member: Membership) -> Acknowledging {
    let (stop, mut stopped) = tokio::sync::oneshot::channel();
    let task = tokio::spawn(async move {
        loop {
            let now = member.current();
            member.acknowledge(now.generation);
            tokio::select! {
                _ = &mut stopped => return member,
                _ = tokio::time::timeout(Duration::from_millis(100), member.changed()) => {}
            }
        }
    });
    Acknowledging { stop, task }
}

impl Acknowledging {
    async fn hand_back(self) -> Membership {
        let _ = self.stop.send(());
        self.task.await.expect("acknowledging task")
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn members_split_the_partitions_and_a_leaver_hands_its_share_over() {
    let log = connect(4).await;
    let topic = testsuite::unique_topic("membership");
    let group = format!("{topic}.members");
    let all: BTreeSet<u32> = (0..4).collect();

    let mut first = log.join(&group, &topic).await.expect("first member joins");
    wait_until(&mut first, "a lone member owns everything", |a| {
        a.partitions == all
    })
    .await;

    let mut second = log.join(&group, &topic).await.expect("second member joins");
    let first = keep_acknowledging(first);
    let split = wait_until(&mut second, "the second member gets a share", |a| {
        a.partitions.len() == 2
    })
    .await;
    let first = first.hand_back().await;
    let first_share = first.current().partitions;
    assert_eq!(
        first_share.len(),
        2,
        "first member's share: {first_share:?}"
    );
    assert!(
        first_share.is_disjoint(&split.partitions),
        "shares overlap: {first_share:?} and {:?}",
        split.partitions
    );

    // A member that leaves (drops its membership) hands over at once.
    drop(second);
    let mut first = first;
    wait_until(&mut first, "the remaining member takes over", |a| {
        a.partitions == all
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revocation_waits_for_the_members_acknowledgement() {
    let log = connect(2).await;
    let topic = testsuite::unique_topic("membership-ack");
    let group = format!("{topic}.members");
    let mut first = log.join(&group, &topic).await.expect("first member joins");
    let owned = wait_until(&mut first, "first member owns both", |a| {
        a.partitions.len() == 2
    })
    .await;

    // The first member now stops acknowledging (it is "busy"). A second
    // member joins: the first sees the revocation at once, but the second
    // gets nothing until the first acknowledges.
    let mut second = log.join(&group, &topic).await.expect("second member joins");
    let deadline = Instant::now() + Duration::from_secs(30);
    let revoked = loop {
        let now = first.current();
        if now.generation > owned.generation {
            break now;
        }
        assert!(
            Instant::now() < deadline,
            "no revocation reached the first member"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(
        revoked.partitions.is_empty(),
        "eager revocation takes all: {revoked:?}"
    );
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(
        second.current().partitions.is_empty(),
        "partitions were handed over before the revocation was acknowledged"
    );
    first.acknowledge(revoked.generation);
    let first = keep_acknowledging(first);
    let got = wait_until(
        &mut second,
        "second member gets a share after the ack",
        |a| a.partitions.len() == 1,
    )
    .await;
    let first = first.hand_back().await;
    assert!(first.current().partitions.is_disjoint(&got.partitions));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silent_member_loses_its_partitions_after_the_session_timeout() {
    // A member whose process died stops heartbeating without leaving. A
    // member cannot die that way inside this process, so it runs in a
    // child process (this test binary again) that is SIGKILLed.
    let log = connect(2).await;
    let topic = testsuite::unique_topic("membership-death");
    let group = format!("{topic}.members");
    let mut survivor = log.join(&group, &topic).await.expect("survivor joins");
    wait_until(&mut survivor, "survivor owns both", |a| {
        a.partitions.len() == 2
    })
    .await;

    let brokers = std::env::var("KAFKA_BROKERS").unwrap_or_else(|_| "127.0.0.1:29092".into());
    let mut child = std::process::Command::new(std::env::current_exe().expect("test binary"))
        .args(["--exact", "member_process", "--nocapture", "--ignored"])
        .env("MEMBER_GROUP", &group)
        .env("MEMBER_TOPIC", &topic)
        .env("KAFKA_BROKERS", &brokers)
        .stdout(std::process::Stdio::null())
        .spawn()
        .expect("spawning the member process");
    // Wait until the child took its share, seen from the survivor (which
    // acknowledges the revocation as it goes).
    let shared = wait_until(&mut survivor, "the child member takes a share", |a| {
        a.partitions.len() == 1
    });
    let shared = tokio::time::timeout(Duration::from_secs(40), shared)
        .await
        .expect("child joined");
    assert_eq!(shared.partitions.len(), 1);

    child.kill().expect("SIGKILL the member");
    let _ = child.wait();
    let killed_at = Instant::now();
    wait_until(
        &mut survivor,
        "the survivor takes the dead member's share",
        |a| a.partitions.len() == 2,
    )
    .await;
    let took = killed_at.elapsed();
    assert!(
        took < Duration::from_secs(25),
        "failover took {took:?}, session timeout is 6 s"
    );
}

/// Not a test on its own: the member process of
/// `a_silent_member_loses_its_partitions_after_the_session_timeout`, which
/// joins and acknowledges until it is killed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "run as a child process by a_silent_member_loses_its_partitions_after_the_session_timeout"]
async fn member_process() {
    let (Ok(group), Ok(topic)) = (std::env::var("MEMBER_GROUP"), std::env::var("MEMBER_TOPIC"))
    else {
        return;
    };
    let log = connect(2).await;
    let member = log.join(&group, &topic).await.expect("member joins");
    let acknowledging = keep_acknowledging(member);
    // Until killed.
    tokio::time::sleep(Duration::from_secs(120)).await;
    drop(acknowledging.hand_back().await);
}
