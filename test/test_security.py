"""The SROS2 keystore and the per-node permissions (skill_embedding_ros/security/): layout,
signatures and chains, what each node may publish and subscribe, and that the one permissions
table matches what the node code actually creates. ROS-free; needs `cryptography`
(requirements-dev.txt) and the `openssl` binary (for an independent S/MIME check)."""

from __future__ import annotations

import ast
import fnmatch
import importlib.util
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric import ec

from skill_embedding_ros import topic_names
from skill_embedding_ros.ros.executables import NODES
from skill_embedding_ros.security import keystore as ks
from skill_embedding_ros.security.permissions import (
    EVERY_NODE,
    INTERFACES,
    OPERATOR,
    allowed_topics,
    grant,
    graph_grants,
    parse_domains,
)

ENCLAVES = {
    *(
        f"/skill_embedding_ros/actor_{i}/{node}"
        for i in (0, 1)
        for node in ("sim_bridge", "safety_gate", "skill_policy")
    ),
    "/skill_embedding_ros/replay_recorder",
    "/skill_embedding_ros/learner",
    "/skill_embedding_ros/operator",
}


@pytest.fixture(scope="module")
def store(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("keystore") / "ks"
    ks.generate_keystore(root, graph_grants("train_sim", ["actors:=2"]), (7, 7))
    return root


def _permissions(store: Path, enclave: str) -> bytes:
    return (ks.enclave_dir(store, enclave) / "permissions.xml").read_bytes()


def _allows(document: bytes, kind: str, topic: str) -> bool:
    """As DDS access control decides: any allowed expression fnmatch-matches the topic."""
    return any(fnmatch.fnmatchcase(topic, expr) for expr in allowed_topics(document, kind))


def test_the_keystore_has_the_sros2_layout(store):
    for name in ("ca", "identity_ca", "permissions_ca"):
        assert (store / "public" / f"{name}.cert.pem").is_file()
        assert (store / "private" / f"{name}.key.pem").is_file()
    assert (store / "enclaves" / "governance.xml").is_file()
    assert (store / "enclaves" / "governance.p7s").is_file()
    # Enclaves as sros2's get_enclaves finds them: every directory holding a key.pem.
    enclaves = store / "enclaves"
    found = {f"/{p.parent.relative_to(enclaves).as_posix()}" for p in enclaves.rglob("key.pem")}
    assert found == ENCLAVES
    for enclave in ENCLAVES:
        directory = ks.enclave_dir(store, enclave)
        for name in (*ks.ENCLAVE_FILES, "permissions.xml"):
            assert (directory / name).is_file(), f"{enclave}: {name}"
        assert stat.S_IMODE((directory / "key.pem").stat().st_mode) == 0o600
    assert stat.S_IMODE((store / "private" / "ca.key.pem").stat().st_mode) == 0o600
    assert stat.S_IMODE((store / "private").stat().st_mode) == 0o700


def test_every_certificate_chains_to_its_ca(store):
    ca = x509.load_pem_x509_certificate((store / "public" / "identity_ca.cert.pem").read_bytes())
    assert ca.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    for enclave in ENCLAVES:
        directory = ks.enclave_dir(store, enclave)
        cert = x509.load_pem_x509_certificate((directory / "cert.pem").read_bytes())
        cert.verify_directly_issued_by(ca)  # raises unless the CA signed it
        assert cert.subject.rfc4514_string() == f"CN={enclave}"
        assert isinstance(cert.public_key().curve, ec.SECP256R1)
        assert not cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    # The check can fail: a certificate from another keystore's CA does not chain.
    other = ks.Keystore(store.parent / "other")
    with pytest.raises((ValueError, InvalidSignature)):
        other.ca_cert.verify_directly_issued_by(ca)


def _smime_verify(p7s: Path, ca: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["openssl", "smime", "-verify", "-text", "-in", str(p7s), "-CAfile", str(ca)],
        capture_output=True,
    )


@pytest.mark.skipif(not shutil.which("openssl"), reason="no openssl binary to verify S/MIME")
def test_every_signed_document_verifies_against_the_permissions_ca(store, tmp_path):
    ca = store / "public" / "permissions_ca.cert.pem"
    signed = [(store / "enclaves" / "governance.p7s", store / "enclaves" / "governance.xml")]
    for enclave in ENCLAVES:
        directory = ks.enclave_dir(store, enclave)
        signed += [
            (directory / "permissions.p7s", directory / "permissions.xml"),
            (directory / "governance.p7s", store / "enclaves" / "governance.xml"),
        ]
    for p7s, document in signed:
        out = _smime_verify(p7s, ca)
        assert out.returncode == 0, (p7s, out.stderr)
        # What was signed is the document beside it (text mode signs CRLF lines).
        assert out.stdout.replace(b"\r\n", b"\n") == document.read_bytes(), p7s
    # The check can fail: one changed topic breaks the signature, another CA is refused.
    tampered = tmp_path / "tampered.p7s"
    gate = ks.enclave_dir(store, "/skill_embedding_ros/actor_0/safety_gate") / "permissions.p7s"
    tampered.write_bytes(gate.read_bytes().replace(b"rt/actor_0/commands", b"rt/policy_weights"))
    assert _smime_verify(tampered, ca).returncode != 0
    stranger = ks.Keystore(tmp_path / "stranger")
    assert _smime_verify(gate, stranger.public / "permissions_ca.cert.pem").returncode != 0


def test_the_gate_may_publish_commands_but_not_weights(store):
    gate = _permissions(store, "/skill_embedding_ros/actor_0/safety_gate")
    assert "rt/actor_0/commands" in allowed_topics(gate, "publish")
    assert not _allows(gate, "publish", "rt/policy_weights")
    assert not _allows(gate, "publish", "rt/actor_1/commands")  # not another actor's robot
    assert _allows(gate, "subscribe", "rt/actor_0/policy_command")
    assert _allows(gate, "subscribe", "rq/actor_0/estopRequest")  # it serves the e-stop
    assert _allows(gate, "publish", "rr/actor_0/estopReply")
    assert _allows(gate, "publish", "rq/actor_0/robot_resetRequest")  # and calls the robot's


def test_only_the_learner_may_publish_weights(store):
    learner = _permissions(store, "/skill_embedding_ros/learner")
    assert "rt/policy_weights" in allowed_topics(learner, "publish")
    assert not _allows(learner, "publish", "rt/actor_0/commands")
    writers = [
        e for e in ENCLAVES if _allows(_permissions(store, e), "publish", "rt/policy_weights")
    ]
    assert writers == ["/skill_embedding_ros/learner"]
    writers = [
        e for e in ENCLAVES if _allows(_permissions(store, e), "publish", "rt/actor_0/commands")
    ]
    assert writers == ["/skill_embedding_ros/actor_0/safety_gate"]
    policy = _permissions(store, "/skill_embedding_ros/actor_0/skill_policy")
    assert _allows(policy, "subscribe", "rt/policy_weights")
    assert _allows(policy, "subscribe", "rt/actor_0/objects/block/pose")
    assert not _allows(policy, "subscribe", "rt/actor_0/commands")
    recorder = _permissions(store, "/skill_embedding_ros/replay_recorder")
    assert _allows(recorder, "subscribe", "rt/actor_5/step_records")
    assert not _allows(recorder, "subscribe", "rt/actor_0/commands")


def test_the_operator_may_only_watch_and_stop(store):
    operator = _permissions(store, "/skill_embedding_ros/operator")
    assert _allows(operator, "publish", "rq/actor_3/estopRequest")
    assert _allows(operator, "subscribe", "rt/actor_3/gate_state")
    assert not _allows(operator, "publish", "rt/actor_3/commands")
    assert not _allows(operator, "publish", "rq/actor_3/robot_resetRequest")


def test_every_node_gets_what_rclpy_needs():
    g = grant("learner")
    for topic in ("ros_discovery_info", "rt/rosout", "rt/parameter_events"):
        assert topic in g.publish
    for service in ("get_parameters", "set_parameters", "get_type_description"):
        assert f"rq/learner/{service}Request" in g.subscribe
        assert f"rr/learner/{service}Reply" in g.publish
    assert "rt/clock" in g.subscribe and "rt/clock" not in g.publish
    assert "rt/clock" in grant("sim_bridge", "actor_0").publish  # only a bridge owns time


def test_domains_are_written_into_both_documents(tmp_path):
    assert parse_domains("3") == (3, 3) and parse_domains("0-101") == (0, 101)
    for bad in ("x", "5-2", "300"):
        with pytest.raises(ValueError, match="domain"):
            parse_domains(bad)
    ks.generate_keystore(tmp_path, [grant("learner")], (0, 101))
    for path in (
        tmp_path / "enclaves" / "governance.xml",
        ks.enclave_dir(tmp_path, "/skill_embedding_ros/learner") / "permissions.xml",
    ):
        assert b"<min>0</min>" in path.read_bytes() and b"<max>101</max>" in path.read_bytes()


# ---- the table against the code ----

_CALLS = {
    "create_publisher": "publishes",
    "create_subscription": "subscribes",
    "create_service": "serves",
    "create_client": "calls",
}


def _node_endpoints(executable: str) -> tuple[set, set]:
    """(kind, name) of every create_* call in the node's module; names that are computed at
    run time go to the second set as (kind, None)."""
    module = NODES[executable].split(":")[0]
    tree = ast.parse(Path(importlib.util.find_spec(module).origin).read_text())
    aliases = {}  # `pub, sub = self.create_publisher, self.create_subscription`
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Assign)
            and isinstance(node.value, ast.Tuple)
            and isinstance(node.targets[0], ast.Tuple)
        ):
            for target, value in zip(node.targets[0].elts, node.value.elts, strict=False):
                if isinstance(target, ast.Name) and isinstance(value, ast.Attribute):
                    aliases[target.id] = value.attr
    static, dynamic = set(), set()
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        if isinstance(node.func, ast.Attribute):
            kind = _CALLS.get(node.func.attr)
        elif isinstance(node.func, ast.Name):
            kind = _CALLS.get(aliases.get(node.func.id, ""))
        else:
            kind = None
        if kind is None:
            continue
        arg = node.args[1] if len(node.args) > 1 else None
        if isinstance(arg, ast.Attribute) and getattr(arg.value, "id", "") == "topics":
            static.add((kind, getattr(topic_names, arg.attr)))
        elif isinstance(arg, ast.Call) and getattr(arg.func, "attr", "") == "object_pose_topic":
            static.add((kind, topic_names.object_pose_topic("*")))
        else:
            dynamic.add(kind)
    return static, dynamic


@pytest.mark.parametrize("executable", sorted(NODES))
def test_the_table_lists_exactly_what_the_node_creates(executable):
    static, dynamic = _node_endpoints(executable)
    iface = INTERFACES[executable]
    table = {(kind, name) for kind in _CALLS.values() for name in getattr(iface, kind)}
    patterns = {(k, n) for k, n in table if "*" in n and n != topic_names.object_pose_topic("*")}
    assert static == table - patterns, f"{executable}: code {sorted(static)} != table"
    assert {k for k, _ in patterns} == dynamic, f"{executable}: run-time names need a pattern"


def test_the_table_covers_every_executable_and_the_operator():
    assert set(INTERFACES) == {*NODES, OPERATOR}
    assert EVERY_NODE.publishes and EVERY_NODE.serves


# ---- the environment, the command line, and staying light ----


def test_security_environment_names_a_complete_enclave(store):
    env = ks.security_environment(store, "/skill_embedding_ros/actor_1/skill_policy")
    assert env == {
        "ROS_SECURITY_KEYSTORE": str(store.resolve()),
        "ROS_SECURITY_ENCLAVE_OVERRIDE": "/skill_embedding_ros/actor_1/skill_policy",
        "ROS_SECURITY_ENABLE": "true",
        "ROS_SECURITY_STRATEGY": "Enforce",
    }
    with pytest.raises(FileNotFoundError, match="actor_9/skill_policy"):
        ks.security_environment(store, "/skill_embedding_ros/actor_9/skill_policy")
    with pytest.raises(ValueError, match="absolute"):
        ks.security_environment(store, "skill_embedding_ros/learner")


def test_rerunning_keeps_the_ca_and_keys_and_adds_actors(tmp_path, capsys):
    assert ks.main([str(tmp_path), "--graph", "train_sim", "actors:=1", "--domain", "4"]) == 0
    ca = (tmp_path / "public" / "ca.cert.pem").read_bytes()
    gate0 = ks.enclave_dir(tmp_path, "/skill_embedding_ros/actor_0/safety_gate") / "key.pem"
    key = gate0.read_bytes()
    assert not ks.enclave_dir(tmp_path, "/skill_embedding_ros/actor_1/safety_gate").exists()
    assert ks.main([str(tmp_path), "--graph", "train_sim", "actors:=2", "--domain", "4"]) == 0
    assert (tmp_path / "public" / "ca.cert.pem").read_bytes() == ca
    assert gate0.read_bytes() == key
    assert "/skill_embedding_ros/actor_1/safety_gate" in capsys.readouterr().out
    cert = ks.enclave_dir(tmp_path, "/skill_embedding_ros/actor_1/safety_gate") / "cert.pem"
    x509.load_pem_x509_certificate(cert.read_bytes()).verify_directly_issued_by(
        x509.load_pem_x509_certificate(ca)
    )


def test_command_line_errors_exit_2_with_the_reason(tmp_path, capsys):
    assert ks.main([str(tmp_path), "--graph", "train_sim", "actrs:=2"]) == 2
    assert "unknown argument" in capsys.readouterr().err
    assert ks.main([str(tmp_path), "--graph", "no_such_graph"]) == 2
    assert ks.main([str(tmp_path), "--domain", "999"]) == 2
    assert not (tmp_path / "enclaves").exists()  # nothing written on a bad request


def test_the_security_package_imports_no_ros_and_no_cryptography():
    code = (
        "import sys, skill_embedding_ros.security.keystore, "
        "skill_embedding_ros.ros.security_probe; "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in "
        "('rclpy', 'std_msgs', 'cryptography')))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]", out.stdout


def test_launch_with_a_keystore_runs_each_node_in_its_enclave(tmp_path, capsys):
    """`skill-embedding launch --keystore DIR`: every enclave is checked before any node starts
    (a missing one is named, exit 2), and each node's process gets its own enclave."""
    import dataclasses
    import io
    import sys

    from skill_embedding_ros.launch.graph import find_graph, load_graph
    from skill_embedding_ros.launch.launcher import GraphRunner, launch
    from skill_embedding_ros.security.keystore import generate_keystore, security_environment
    from skill_embedding_ros.security.permissions import enclave_path, graph_grants

    assert launch("train_sim", ["actors:=1"], False, False, keystore=str(tmp_path / "no")) == 2
    assert "enclave /skill_embedding_ros/actor_0/sim_bridge lacks" in capsys.readouterr().err

    specs = load_graph(find_graph("train_sim")).resolve({"actors": 1})
    generate_keystore(tmp_path / "keys", graph_grants("train_sim", ["actors:=1"]))
    env = {
        s.label: security_environment(tmp_path / "keys", enclave_path(s.namespace, s.name))
        for s in specs
    }
    show = "import os; print(os.environ['ROS_SECURITY_ENCLAVE_OVERRIDE'])"
    out = io.StringIO()
    # Two nodes that print their enclave and finish (on_exit done: the graph then ends, exit 0).
    specs = [dataclasses.replace(s, on_exit="done") for s in specs[:2]]
    runner = GraphRunner(
        specs,
        command=lambda s: [sys.executable, "-c", show],
        out=out,
        node_env=lambda s: env[s.label],
    )
    assert runner.run() == 0, out.getvalue()
    for spec in specs:
        assert f"{enclave_path(spec.namespace, spec.name)}" in out.getvalue()
