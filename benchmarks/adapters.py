"""Adapter throughput and latency over real OPC UA and MQTT, 200 tags changing at 10 Hz.

A station process changes every tag every 100 ms, stamping each value with the wall clock at the change;
the server (asyncua) or the publisher (paho -> mosquitto) runs in that process. This process subscribes
through the workbench adapter and, as the peer in the same run, through the bare library (an asyncua
subscription handler / a paho on_message decoding the same JSON). Printed per transport: values/s
sustained, latency p50/p95 from the change to the callback, values lost, and adapter/peer ratios.

Target: p95 <= 100 ms and no values lost, for both transports.

    .venv/bin/python benchmarks/adapters.py [--tags 200] [--hz 10] [--seconds 10]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing as mp
import os
import socket
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402

from workbench.config import MqttAdapter, OpcUaAdapter, Tag  # noqa: E402

PUBLISHING_INTERVAL_MS = 50.0


def bench_tags(n: int) -> list[Tag]:
    return [Tag(path=f"plant1/bench/line1/station{i // 50:02d}/signal{i:03d}", units="V") for i in range(n)]


class ChangingLine:
    """A backend whose every tag changes every ``1/hz`` s; value = change counter, ts = wall clock."""

    def __init__(self, tags: list[Tag], hz: float):
        from data_adapters.base import Quality, Reading

        self.tags, self.period = tags, 1.0 / hz
        self._Reading, self._good = Reading, Quality.GOOD
        self.counter = 0
        self.ts = datetime.now(timezone.utc)
        self._subs: dict[int, tuple] = {}
        self._task = None
        self.connected = False

    def _reading(self, path):
        return self._Reading(path, float(self.counter), "V", self.ts, self._good)

    async def connect(self):
        self.connected = True
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def close(self):
        self.connected = False
        if self._task:
            self._task.cancel()

    async def read(self, paths):
        return {p: self._reading(p) for p in paths}

    async def subscribe(self, paths, cb):
        self._subs[len(self._subs) + 1] = (paths, cb)
        return len(self._subs)

    async def unsubscribe(self, handle):
        self._subs.pop(handle, None)

    async def write(self, path, value):
        raise RuntimeError("benchmark line is read-only")

    async def _run(self):
        loop = asyncio.get_running_loop()
        next_t = loop.time()
        while True:
            next_t += self.period
            await asyncio.sleep(max(0.0, next_t - loop.time()))
            self.counter += 1
            self.ts = datetime.now(timezone.utc)
            for paths, cb in list(self._subs.values()):
                for p in paths:
                    await cb(self._reading(p))


def _station(kind: str, n: int, hz: float, port: int, ready, stop, cpu) -> None:
    """The station process: the changing line behind an OPC UA server or an MQTT publisher."""
    import logging

    logging.basicConfig(level=logging.ERROR)

    async def main():
        tags = bench_tags(n)
        line = ChangingLine(tags, hz)
        if kind == "opcua":
            from data_adapters.opcua_server import LineOpcUaServer

            server = LineOpcUaServer(tags, line, port=port)
        else:
            from data_adapters.mqtt_publisher import LineMqttPublisher

            server = LineMqttPublisher(tags, line, port=port, client_id="bench-station")
        await server.start()
        ready.set()
        cpu0, wall0 = time.process_time(), time.monotonic()
        while not stop.is_set():
            await asyncio.sleep(0.1)
        cpu[0] = (time.process_time() - cpu0) / (time.monotonic() - wall0)  # share of one core, serving
        await server.stop()
        await line.close()

    asyncio.run(main())


class Meter:
    """Collects latencies (s) and (path, counter) pairs during the measuring window."""

    def __init__(self):
        self.lat: list[float] = []
        self.seen: set = set()
        self.on = False
        self.first_counter: int | None = None
        self.last_counter = 0

    def record(self, path: str, counter: float, ts: datetime) -> None:
        if not self.on:
            return
        now = datetime.now(timezone.utc)
        self.lat.append((now - ts).total_seconds())
        c = int(counter)
        self.seen.add((path, c))
        if self.first_counter is None:
            self.first_counter = c
        self.last_counter = max(self.last_counter, c)

    def summary(self, n_tags: int, seconds: float) -> dict:
        lat = np.array(self.lat) * 1000
        # changes fully inside the window: counters strictly between the first and last seen
        lo, hi = (self.first_counter or 0) + 1, self.last_counter - 1
        expected = max(0, hi - lo + 1) * n_tags
        got = sum(1 for _, c in self.seen if lo <= c <= hi)
        return {"values_per_s": len(self.lat) / seconds, "p50_ms": float(np.percentile(lat, 50)) if len(lat) else np.nan,
                "p95_ms": float(np.percentile(lat, 95)) if len(lat) else np.nan, "lost": expected - got,
                "expected": expected}


async def _measure(meter: Meter, seconds: float, warmup: float = 2.0) -> None:
    await asyncio.sleep(warmup)
    meter.on = True
    await asyncio.sleep(seconds)
    meter.on = False


async def opcua_adapter_run(url: str, tags, seconds: float) -> Meter:
    from data_adapters.base import Adapter
    from data_adapters.opcua import OpcUaBackend

    meter = Meter()
    settings = OpcUaAdapter(kind="opcua", url=url, publishing_interval_ms=PUBLISHING_INTERVAL_MS, queue_size=10000)
    async with Adapter(tags, OpcUaBackend(tags, settings), name="bench") as adapter:
        await adapter.subscribe(None, lambda r: meter.record(r.path, r.value, r.source_time))
        await _measure(meter, seconds)
    return meter


async def opcua_peer_run(url: str, tags, seconds: float) -> Meter:
    from asyncua import Client

    meter = Meter()

    class Handler:
        def datachange_notification(self, node, val, data):
            dv = data.monitored_item.Value
            meter.record(names[node.nodeid], val, dv.SourceTimestamp)

    async with Client(url) as client:
        ns = await client.get_namespace_index("urn:line-workbench:virtual-line")
        nodes = [client.get_node(f"ns={ns};s={t.path}") for t in tags]
        names = {n.nodeid: t.path for n, t in zip(nodes, tags)}
        sub = await client.create_subscription(PUBLISHING_INTERVAL_MS, Handler())
        await sub.subscribe_data_change(nodes, queuesize=10, sampling_interval=0)
        await _measure(meter, seconds)
        await sub.delete()
    return meter


async def mqtt_adapter_run(port: int, tags, seconds: float) -> Meter:
    from data_adapters.base import Adapter
    from data_adapters.mqtt import MqttBackend

    meter = Meter()
    settings = MqttAdapter(kind="mqtt", port=port, client_id=f"bench-adapter-{os.getpid()}")
    async with Adapter(tags, MqttBackend(tags, settings), name="bench") as adapter:
        await adapter.subscribe(None, lambda r: meter.record(r.path, r.value, r.source_time))
        await _measure(meter, seconds)
    return meter


async def mqtt_peer_run(port: int, tags, seconds: float) -> Meter:
    import paho.mqtt.client as paho
    from paho.mqtt.enums import CallbackAPIVersion

    meter = Meter()

    def on_message(c, u, msg):
        d = json.loads(msg.payload)
        meter.record(msg.topic, d["value"], datetime.fromisoformat(d["ts"]))

    c = paho.Client(CallbackAPIVersion.VERSION2, client_id=f"bench-peer-{os.getpid()}")
    c.on_message = on_message
    c.on_connect = lambda cl, u, f, rc, p: cl.subscribe([(t.path, 1) for t in tags])
    c.connect("127.0.0.1", port)
    c.loop_start()
    try:
        await _measure(meter, seconds)
    finally:
        c.disconnect()
        c.loop_stop()
    return meter


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _mosquitto(workdir: Path, port: int) -> subprocess.Popen:
    conf = workdir / "mosquitto.conf"
    conf.write_text(f"listener {port} 127.0.0.1\nallow_anonymous true\nmax_queued_messages 100000\n"
                    "max_inflight_messages 0\n")
    proc = subprocess.Popen(["/usr/sbin/mosquitto", "-c", str(conf)], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close()
            return proc
        except OSError:
            time.sleep(0.05)
    proc.kill()
    raise RuntimeError("mosquitto did not start")


def run_once(kind: str, who: str, n: int, hz: float, seconds: float) -> dict:
    """A fresh station (and broker) per measurement, so no backlog carries over between the two clients."""
    ctx = mp.get_context("spawn")
    port = _free_port()
    broker = None
    tmp = tempfile.TemporaryDirectory()
    if kind == "mqtt":
        broker = _mosquitto(Path(tmp.name), port)
    ready, stop, station_cpu = ctx.Event(), ctx.Event(), ctx.Array("d", 1)
    proc = ctx.Process(target=_station, args=(kind, n, hz, port, ready, stop, station_cpu), daemon=True)
    proc.start()
    try:
        if not ready.wait(120):
            raise RuntimeError(f"{kind} station did not start")
        tags = bench_tags(n)
        url = f"opc.tcp://127.0.0.1:{port}/line-workbench/"
        run = {("opcua", "adapter"): lambda: opcua_adapter_run(url, tags, seconds),
               ("opcua", "peer"): lambda: opcua_peer_run(url, tags, seconds),
               ("mqtt", "adapter"): lambda: mqtt_adapter_run(port, tags, seconds),
               ("mqtt", "peer"): lambda: mqtt_peer_run(port, tags, seconds)}[(kind, who)]
        cpu0, wall0 = time.process_time(), time.monotonic()
        meter = asyncio.run(run())
        client_cpu = (time.process_time() - cpu0) / (time.monotonic() - wall0)
    finally:
        stop.set()
        proc.join(15)
        if proc.is_alive():
            proc.kill()
        if broker is not None:
            broker.terminate()
            broker.wait(10)
        tmp.cleanup()
    return {**meter.summary(n, seconds), "client_cpu": client_cpu, "station_cpu": station_cpu[0]}


def run_transport(kind: str, n: int, hz: float, seconds: float) -> dict:
    return {"adapter": run_once(kind, "adapter", n, hz, seconds), "peer": run_once(kind, "peer", n, hz, seconds)}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tags", type=int, default=200)
    ap.add_argument("--hz", type=float, default=10.0)
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--only", choices=["opcua", "mqtt"])
    args = ap.parse_args(argv)
    print(f"{args.tags} tags at {args.hz:g} Hz = {args.tags * args.hz:.0f} changes/s offered; "
          f"{args.seconds:g} s measured per run; OPC UA publishing interval {PUBLISHING_INTERVAL_MS:g} ms; "
          f"{os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f} at start")
    ok = True
    for kind in ([args.only] if args.only else ["opcua", "mqtt"]):
        res = run_transport(kind, args.tags, args.hz, args.seconds)
        a, p = res["adapter"], res["peer"]
        for who, r in (("adapter", a), (f"bare {'asyncua' if kind == 'opcua' else 'paho'}", p)):
            print(f"{kind:6s} {who:14s} {r['values_per_s']:8.0f} values/s  p50 {r['p50_ms']:6.1f} ms  "
                  f"p95 {r['p95_ms']:6.1f} ms  lost {r['lost']}/{r['expected']}  "
                  f"CPU client {100 * r['client_cpu']:3.0f}% station {100 * r['station_cpu']:3.0f}% of a core")
        print(f"{kind:6s} ratio adapter/peer: values/s x{a['values_per_s'] / p['values_per_s']:.2f}, "
              f"p95 x{a['p95_ms'] / p['p95_ms']:.2f}")
        met = a["p95_ms"] <= 100 and a["lost"] == 0
        ok &= met
        print(f"{kind:6s} target p95 <= 100 ms, no loss: {'met' if met else 'NOT met'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
