//! Back-pressure: when the server reads slowly, wsprobe stops reading stdin instead
//! of queueing it, so its memory stays bounded however much input is waiting.

use std::time::Duration;

use crate::support::*;

const LINES: usize = 400_000;
const LINE_LEN: usize = 100;
/// The bound from the foundation issue: peak RSS under 32 MB for any number of
/// queued 100-byte lines. The input here is 40 MB, so buffering it all would fail.
const MAX_RSS_KB: u64 = 32 * 1024;

#[test]
fn slow_server_bounds_memory_and_loses_nothing() {
    // A server that reads in slow bursts (a pause every 20,000 messages, about a
    // second in all) and echoes, so wsprobe's writes back up while stdin is full.
    let srv = Server::start(|c: &mut Conn| {
        c.set_record(false);
        while let Some(Msg::Text(t)) = c.recv() {
            if c.obs.count % 20_000 == 0 {
                // Reading slowly on purpose (not waiting for anything).
                std::thread::sleep(Duration::from_millis(50));
            }
            if !c.send_text(&t) {
                break;
            }
        }
    });
    let mut line = vec![b'x'; LINE_LEN];
    line.push(b'\n');
    let input = line.repeat(LINES);
    let r = Wsprobe::new(&[&srv.url()])
        .stdin(input)
        .measure_memory()
        .time_limit(Duration::from_secs(300))
        .run();
    r.code(0);
    let obs = srv.next();
    assert_eq!(obs.error, None, "{obs:?}");
    assert_eq!(
        obs.count, LINES as u64,
        "the server must receive every line"
    );
    let echoed: Vec<&[u8]> = r.stdout.split(|&b| b == b'\n').collect();
    assert_eq!(echoed.len(), LINES + 1, "every echo must be written out");
    assert!(echoed[..LINES].iter().all(|l| l.len() == LINE_LEN));
    assert!(echoed[LINES].is_empty(), "the output ends with a newline");
    let peak_kb = r.peak_rss_kb.expect("VmHWM of wsprobe from /proc");
    assert!(
        peak_kb < MAX_RSS_KB,
        "peak RSS {peak_kb} KB for {LINES} queued lines (took {:?})",
        r.elapsed
    );
}
