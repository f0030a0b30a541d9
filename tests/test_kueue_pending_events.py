"""A Kueue workload that can never be admitted says why: a ``Pending`` event on the Workload whose reason is
Kueue's message, written again only when the message changes (issue: it used to wait in silence)."""

from __future__ import annotations

from pathlib import Path

from test_gang_scenarios import cq, kueue, of, pool, run, wl


def test_uncovered_resource_is_reported_once(tmp_path: Path) -> None:
    # the workload asks for 16 GPUs; its ClusterQueue's quota is 8: it can never be admitted
    ev = run(tmp_path, [pool(2)], [wl("big", 0, gpus=8, replicas=2, queue="q", gang={"policy": "kueue"})],
             kq=kueue(cq("q", 8)), duration="2h")
    pending = of(ev, "Pending")
    assert [(e.kind, e.name, e.t, e.group) for e in pending] == [("Workload", "big-0", 0.0, "default/big-0")]
    assert pending[0].reason == ("couldn't assign flavors to pod set main: insufficient quota for nvidia.com/gpu "
                                 "in flavor h100, previously considered podsets requests (0) + current podset "
                                 "request (16) > maximum capacity (8)")
    assert pending[0].data == {"clusterQueue": "q"}
    assert of(ev, "Admitted") == []


def test_message_changes_are_reported_again(tmp_path: Path) -> None:
    # a 16-GPU quota: "a" takes 8 then "b" 8; "c" (8) waits with 8 more needed until "a" finishes at 1 h
    ev = run(tmp_path, [pool(3)], [wl("a", 0, gpus=8, queue="q", gang={"policy": "kueue"}),
                                   wl("b", 0, gpus=8, queue="q", gang={"policy": "kueue"}, runtime="3h"),
                                   wl("c", 60, gpus=8, queue="q", gang={"policy": "kueue"})],
             kq=kueue(cq("q", 16)), duration="4h")
    pending = [(e.name, e.t) for e in of(ev, "Pending")]
    assert pending == [("c-0", 60.0)]
    assert [(e.name, e.t) for e in of(ev, "Admitted") if e.name == "c-0"] == [("c-0", 3600.0)]
