//! Tunnels whose path security groups or network ACLs judge: a blocked one is
//! upgraded, then closed with 1011 "Unable to connect to target", as the real
//! service does; an open one carries data as before.

use std::sync::Arc;

use bytes::Bytes;
use futures_util::SinkExt;

use super::data_phase::finish;
use super::*;
use crate::world::World;
use crate::world::tests::SAMPLE;

/// SAMPLE (whose instance is 10.0.1.25 behind eice-0123456789abcdef0) with the
/// instance in a group admitting tcp 22 from `peer` only, e.g. `cidr =
/// "127.0.0.1/32"`.
fn world_admitting(peer: &str, preserve_client_ip: bool) -> World {
    let text = SAMPLE
        .replace(
            "tags = { env = \"demo\" }",
            "tags = { env = \"demo\" }\nsecurity_groups = [\"sg-0a1b2c3d4e5f60053\"]",
        )
        .replace(
            "preserve_client_ip = false",
            &format!("preserve_client_ip = {preserve_client_ip}"),
        );
    let group = format!(
        "\n[[security_group]]\nid = \"sg-0a1b2c3d4e5f60053\"\nvpc = \"vpc-0a1b2c3d4e5f60001\"\n\
         name = \"narrow\"\ningress = [{{ protocol = \"tcp\", from_port = 22, to_port = 22, {peer} }}]\n"
    );
    World::from_toml(&format!("{text}{group}")).unwrap()
}

async fn sim_judging(world: World) -> EiceSim {
    sim_with(echo_target().await, |config| {
        config.worlds = vec![Arc::new(world)];
    })
    .await
}

/// Opens a tunnel to 10.0.1.25:22 and proves bytes go both ways.
async fn round_trip(sim: &EiceSim) {
    let mut ws = open(sim, &params("22")).await.unwrap();
    ws.send(Message::Binary(Bytes::from_static(b"ping")))
        .await
        .unwrap();
    loop {
        match ws.next().await.unwrap().unwrap() {
            Message::Binary(data) => {
                assert_eq!(&data[..], b"ping");
                break;
            }
            Message::Ping(_) => {}
            other => panic!("expected the echo, got {other:?}"),
        }
    }
    ws.close(None).await.unwrap();
    finish(ws).await;
}

#[tokio::test]
async fn a_blocked_path_is_upgraded_then_closed_with_1011_unable_to_connect() {
    within(async {
        let sim = sim_judging(world_admitting(r#"cidr = "192.0.2.0/24""#, false)).await;
        let mut ws = open(&sim, &params("22")).await.unwrap();
        let close = next_close(&mut ws).await;
        assert_eq!(u16::from(close.code), 1011);
        assert_eq!(close.reason.as_str(), UNABLE_TO_CONNECT);
        assert_eq!(close.reason.as_str(), "Unable to connect to target");
        finish(ws).await;
        let stats = sim.wait_for(|s| s.tunnels_active == 0).await;
        assert_eq!(stats.tunnels_opened, 1);
        assert_eq!(stats.close_codes_sent, [1011]);
        assert_eq!(stats.bytes_to_client, 0);
        assert_eq!(stats.paths_blocked.len(), 1);
        assert!(
            stats.paths_blocked[0]
                .starts_with("no ingress rule of sg-0a1b2c3d4e5f60053 allows tcp 22 from 10.0.1."),
            "{:?}",
            stats.paths_blocked
        );
    })
    .await;
}

#[tokio::test]
async fn the_unreachable_close_code_can_be_another_until_cleared() {
    within(async {
        let sim = sim_judging(world_admitting(r#"cidr = "192.0.2.0/24""#, false)).await;
        sim.close_unreachable_with(4000);
        let mut ws = open(&sim, &params("22")).await.unwrap();
        let close = next_close(&mut ws).await;
        assert_eq!(
            (u16::from(close.code), close.reason.as_str()),
            (4000, UNABLE_TO_CONNECT)
        );
        finish(ws).await;
        sim.clear_faults();
        let mut ws = open(&sim, &params("22")).await.unwrap();
        assert_eq!(u16::from(next_close(&mut ws).await.code), 1011);
        finish(ws).await;
    })
    .await;
}

#[tokio::test]
async fn a_group_admitting_the_endpoints_group_lets_the_tunnel_through() {
    within(async {
        // SAMPLE's endpoint names no group, so it is in the VPC's default one.
        let world = World::from_toml(SAMPLE).unwrap();
        let default = world
            .default_security_group("vpc-0a1b2c3d4e5f60001")
            .unwrap();
        let peer = format!("group = \"{}\"", default.id);
        let sim = sim_judging(world_admitting(&peer, false)).await;
        round_trip(&sim).await;
        assert!(sim.stats().paths_blocked.is_empty());
    })
    .await;
}

#[tokio::test]
async fn a_preserved_client_ip_is_what_the_instance_must_admit() {
    within(async {
        let admits_localhost = r#"cidr = "127.0.0.1/32""#;
        // The endpoint shows the instance the WebSocket's peer, 127.0.0.1.
        let sim = sim_judging(world_admitting(admits_localhost, true)).await;
        round_trip(&sim).await;
        // Without preserving, the instance sees the endpoint's own address.
        let sim = sim_judging(world_admitting(admits_localhost, false)).await;
        let mut ws = open(&sim, &params("22")).await.unwrap();
        let close = next_close(&mut ws).await;
        assert_eq!(
            (u16::from(close.code), close.reason.as_str()),
            (1011, UNABLE_TO_CONNECT)
        );
        finish(ws).await;
    })
    .await;
}

#[tokio::test]
async fn a_target_the_worlds_do_not_know_is_left_to_the_target_table() {
    within(async {
        let mut world = world_admitting(r#"cidr = "192.0.2.0/24""#, false);
        // The tunnel's endpoint is no endpoint of this world.
        world.endpoints[0].id = "eice-0fedcba9876543210".into();
        let sim = sim_judging(world).await;
        round_trip(&sim).await;
    })
    .await;
}
