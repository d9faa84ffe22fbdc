"""The shape of drillkit's packet-drop rules (applying them is an integration test)."""

from __future__ import annotations

from drillkit.sandbox.netfilter import DropRule


def test_a_drop_rule_matches_the_owner_the_destination_and_carries_its_tag():
    spec = DropRule(uid=998, destination="127.0.20.1").spec("drillkit:partition:region-a")
    assert spec == [
        "-d", "127.0.20.1/32", "-m", "owner", "--uid-owner", "998",
        "-m", "comment", "--comment", "drillkit:partition:region-a", "-j", "DROP",
    ]


def test_a_port_rule_only_drops_that_tcp_port():
    spec = DropRule(uid=998, destination="127.0.10.1", port=5432).spec("t")
    assert spec[2:6] == ["-p", "tcp", "--dport", "5432"]
