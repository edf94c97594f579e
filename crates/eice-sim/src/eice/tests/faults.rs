//! Injected faults as a WebSocket client sees them: refused upgrades with the
//! armed status and body, hung upgrades, tunnels cut after so many bytes.

use bytes::Bytes;
use futures_util::SinkExt;

use super::data_phase::finish;
use super::*;

#[tokio::test]
async fn armed_refusals_answer_with_their_status_and_body_then_the_service_works() {
    within(async {
        let sim = sim_with(echo_target().await, |_| {}).await;
        sim.fail_next_upgrades(2, 429, "ThrottlingException", "Rate exceeded");
        for _ in 0..2 {
            let (status, _, body) = refusal(open(&sim, &params("22")).await);
            assert_eq!(status, 429);
            assert_eq!(
                body,
                r#"{"ErrorCode":"ThrottlingException","Message":"Rate exceeded"}"#
            );
        }
        drop(open(&sim, &params("22")).await.unwrap());
        let stats = sim.stats();
        assert_eq!(stats.rejected, ["ThrottlingException"; 2]);
        assert_eq!(stats.request_ids.len(), 3);
        assert_eq!(stats.access_keys, [EXAMPLE_ACCESS_KEY_ID]);
    })
    .await;
}

#[tokio::test]
async fn an_endpoint_refusal_stands_until_cleared_and_spares_other_endpoints() {
    within(async {
        let sim = sim_with(echo_target().await, |_| {}).await;
        sim.fail_upgrades_for("eice-0123456789abcdef0", 403, "AccessDeniedException", "no");
        for _ in 0..2 {
            assert_eq!(refusal(open(&sim, &params("22")).await).0, 403);
        }
        let mut other = params("22");
        other[0].1 = "eice-0fedcba9876543210".to_owned();
        drop(open(&sim, &other).await.unwrap());
        sim.clear_faults();
        drop(open(&sim, &params("22")).await.unwrap());
    })
    .await;
}

#[tokio::test]
async fn a_hung_upgrade_is_never_answered_while_the_next_one_is() {
    within(async {
        let sim = sim_with(echo_target().await, |_| {}).await;
        sim.hang_next_upgrades(1);
        let path = Signing::for_sim(&sim).path(&params("22"));
        let mut hung = TcpStream::connect(sim.addr()).await.unwrap();
        let request = format!(
            "GET {path} HTTP/1.1\r\nHost: {}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n",
            sim.addr()
        );
        hung.write_all(request.as_bytes()).await.unwrap();
        sim.wait_for(|s| s.upgrades_hung == 1).await;
        drop(open(&sim, &params("22")).await.unwrap());
        // Dropping the service releases the hung request, which was never upgraded.
        drop(sim);
        let mut head = [0u8; 12];
        let mut len = 0;
        while len < head.len() {
            match hung.read(&mut head[len..]).await {
                Ok(0) | Err(_) => break,
                Ok(n) => len += n,
            }
        }
        let head = String::from_utf8_lossy(&head[..len]);
        assert!(head.is_empty() || head == "HTTP/1.1 503", "{head}");
    })
    .await;
}

#[tokio::test]
async fn a_cut_tunnel_delivers_exactly_the_armed_bytes_then_its_close() {
    within(async {
        let sim = sim_with(echo_target().await, |_| {}).await;
        sim.close_next_tunnel_after(5, 1011, "connection reset by instance");
        let mut ws = open(&sim, &params("22")).await.unwrap();
        ws.send(Message::Binary(Bytes::from_static(b"hello world")))
            .await
            .unwrap();
        let mut got = Vec::new();
        let close = loop {
            match ws.next().await.unwrap().unwrap() {
                Message::Binary(data) => got.extend_from_slice(&data),
                Message::Close(Some(frame)) => break frame,
                other => panic!("unexpected {other:?}"),
            }
        };
        assert_eq!(got, b"hello");
        assert_eq!(u16::from(close.code), 1011);
        assert_eq!(close.reason.as_str(), "connection reset by instance");
        finish(ws).await;
        // Only the next tunnel was cut.
        let mut ws = open(&sim, &params("22")).await.unwrap();
        ws.send(Message::Binary(Bytes::from_static(b"hello world")))
            .await
            .unwrap();
        ws.close(None).await.unwrap();
        finish(ws).await;
        let stats = sim.wait_for(|s| s.tunnels_active == 0).await;
        assert_eq!(stats.close_codes_sent, [1011, 1000]);
        assert_eq!(stats.bytes_to_client, 5 + 11);
    })
    .await;
}

#[tokio::test]
async fn connections_without_a_request_are_closed_when_idle_and_numbered() {
    within(async {
        let sim = sim_with(echo_target().await, |c| {
            c.idle_connection_timeout = Some(Duration::from_millis(50));
        })
        .await;
        let mut idle = TcpStream::connect(sim.addr()).await.unwrap();
        let mut rest = Vec::new();
        idle.read_to_end(&mut rest).await.unwrap();
        assert!(rest.is_empty(), "closed without a word");
        assert_eq!(sim.stats().idle_connections_closed, 1);
        // A connection that sends its request in time is served, and the
        // upgrade records which connection carried it.
        sim.set_idle_connection_timeout(None);
        drop(open(&sim, &params("22")).await.unwrap());
        let stats = sim.stats();
        assert_eq!(stats.connections_accepted, 2);
        assert_eq!(stats.tunnel_connections, [2]);
        assert_eq!(stats.tunnel_sni, [None]);
    })
    .await;
}

#[tokio::test]
async fn idle_connections_close_on_request_and_armed_requests_are_dropped() {
    within(async {
        let sim = sim_with(echo_target().await, |_| {}).await;
        let mut idle = TcpStream::connect(sim.addr()).await.unwrap();
        sim.wait_for(|s| s.connections_accepted == 1).await;
        sim.close_idle_connections();
        assert_eq!(idle.read(&mut [0u8; 1]).await.unwrap(), 0);
        assert_eq!(sim.stats().idle_connections_closed, 1);
        sim.drop_next_requests(1);
        assert!(open(&sim, &params("22")).await.is_err());
        drop(open(&sim, &params("22")).await.unwrap());
        let stats = sim.stats();
        assert_eq!(stats.requests_dropped, 1);
        assert_eq!(stats.tunnel_connections, [3]);
    })
    .await;
}
