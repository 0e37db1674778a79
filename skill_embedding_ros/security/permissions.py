"""Who may publish, subscribe, serve and call what: one table, and the DDS permissions and
governance documents derived from it. ROS-free and free of `cryptography` (keystore.py signs
what this module writes), so the table can be read and tested anywhere.

Why one table: a permissions.xml per node written by hand drifts from the code the day a node
gains a topic, and a lock that is wrong either breaks the graph or silently allows too much.
`INTERFACES` names every node's endpoints through `topic_names.py`, and
test/test_security.py checks it against the `create_publisher`/`create_subscription`/
`create_service`/`create_client` calls in each node module.

Names are ROS names as a node uses them: relative (`commands`, resolved in the node's namespace),
absolute (`/policy_weights`), private (`~/get_parameters`, under the node's own name) or patterns
with `*` (DDS access control matches topic names with fnmatch; `*` also crosses `/`). They become
DDS topics as ROS 2 mangles them (what sros2's permissions.xsl does): a topic `/x` is `rt/x`; a
service `/s` is a request topic `rq/sRequest` and a reply topic `rr/sReply`. A server subscribes
to requests and publishes replies; a client the reverse.
"""

from __future__ import annotations

import datetime
import os
from collections.abc import Iterable
from dataclasses import dataclass
from xml.etree import ElementTree as ET

from skill_embedding_ros import topic_names as tn

ENCLAVE_ROOT = "/skill_embedding_ros"
"""Every enclave of the project lives under this path: /skill_embedding_ros/actor_0/safety_gate."""

OPERATOR = "operator"
"""A role, not a graph node: the enclave of an operator's tool (e-stop, monitoring)."""

ROS_DISCOVERY_INFO = "ros_discovery_info"
"""The DDS topic (no rt/ prefix) on which rmw_fastrtps/cyclonedds/connext share the ROS graph;
every participant reads and writes it (sros2 adds it for these RMWs)."""

PARAMETER_SERVICES = (
    "~/describe_parameters",
    "~/get_parameter_types",
    "~/get_parameters",
    "~/list_parameters",
    "~/set_parameters",
    "~/set_parameters_atomically",
)


@dataclass(frozen=True)
class Interface:
    """The ROS names one node uses, by direction."""

    publishes: tuple[str, ...] = ()
    subscribes: tuple[str, ...] = ()
    serves: tuple[str, ...] = ()
    calls: tuple[str, ...] = ()

    def __add__(self, other: Interface) -> Interface:
        return Interface(
            self.publishes + other.publishes,
            self.subscribes + other.subscribes,
            self.serves + other.serves,
            self.calls + other.calls,
        )


EVERY_NODE = Interface(
    # rclpy logs to /rosout and announces parameter changes on /parameter_events; a node that
    # cannot do either fails at start under Enforce.
    publishes=("/rosout", "/parameter_events"),
    # /clock: a use_sim_time node follows it; only the bridge may publish it (see below).
    subscribes=("/parameter_events", tn.CLOCK),
    # Every rclpy node serves its parameters and (Jazzy and later) ~/get_type_description;
    # measured: a Kilted rclpy node offers exactly these seven services.
    serves=(*PARAMETER_SERVICES, "~/get_type_description"),
)
"""What rclpy itself does in every node, whatever the node's code."""

_POSE_ANY = tn.object_pose_topic("*")

INTERFACES: dict[str, Interface] = {
    "sim_bridge": Interface(
        publishes=(tn.JOINT_STATES, _POSE_ANY, tn.ROBOT_DESCRIPTION, tn.SIM_DESCRIPTION, tn.CLOCK),
        subscribes=(tn.COMMANDS, tn.TASK),
        serves=(tn.ROBOT_RESET,),
    ),
    "safety_gate": Interface(
        publishes=(tn.COMMANDS, tn.EXECUTED, tn.GATE_STATE),
        subscribes=(
            tn.POLICY_COMMAND,
            tn.JOINT_STATES,
            tn.ROBOT_DESCRIPTION,
            tn.SIM_DESCRIPTION,
            tn.JOY,
        ),
        serves=(tn.ESTOP, tn.RESET),
        calls=(tn.ROBOT_RESET,),
    ),
    "skill_policy": Interface(
        publishes=(tn.POLICY_COMMAND, tn.STEP_RECORDS, tn.TASK, tn.DIAGNOSTICS),
        subscribes=(tn.JOINT_STATES, _POSE_ANY, tn.EXECUTED, tn.POLICY_WEIGHTS),
        calls=(tn.RESET,),
    ),
    # The recorder finds `.../step_records` of any actor at run time.
    "replay_recorder": Interface(subscribes=(f"/*/{tn.STEP_RECORDS}",)),
    "learner": Interface(publishes=(tn.POLICY_WEIGHTS, tn.DIAGNOSTICS)),
    # Records whatever topics it is told to: it may read everything and write nothing.
    "bag_recorder": Interface(subscribes=("/*",)),
    # On an arm: the driver speaks to the vendor's controllers, whose names come from the robot
    # config (patterns), and serves its homing service under a configured name.
    "arm_driver": Interface(
        publishes=(tn.JOINT_STATES, tn.ROBOT_DESCRIPTION, "/*/commands", "/*/joint_trajectory"),
        subscribes=(tn.COMMANDS, tn.GATE_STATE, "/joint_state*", "/robot_description*"),
        serves=("*",),
    ),
    # The emulator stands in for a vendor stack, a bench and a camera (tests, dry runs).
    "arm_emulator": Interface(
        publishes=("/*",), subscribes=("/*/commands", "/*/joint_trajectory"), serves=("~/*",)
    ),
    "aruco_pose": Interface(publishes=("objects/*",), subscribes=("/*",)),  # any camera
    "static_pose": Interface(publishes=("objects/*",), subscribes=(tn.JOINT_STATES,)),
    "scene_markers": Interface(
        publishes=(tn.MARKERS,), subscribes=(_POSE_ANY, tn.GATE_STATE, tn.TRIAL_STATE)
    ),
    "keyboard_teleop": Interface(publishes=(tn.JOY,)),
    "trial_manager": Interface(
        publishes=(tn.TRIAL_LABEL, tn.TRIAL_STATE),
        subscribes=(tn.JOY, tn.STEP_RECORDS, tn.GATE_STATE, tn.TASK, "/*"),  # "/*": a camera
        serves=(tn.ROBOT_RESET,),
        calls=("*",),  # the driver's homing service, by its configured name
    ),
    # An operator's tool may latch or release any actor's e-stop and watch the graph.
    OPERATOR: Interface(
        subscribes=(f"/*/{tn.GATE_STATE}", tn.DIAGNOSTICS),
        calls=(f"/*/{tn.ESTOP}",),
    ),
}
"""Executable (ros/executables.py NODES) or role -> the names it uses beyond EVERY_NODE."""


@dataclass(frozen=True)
class Grant:
    """One enclave's DDS-level permissions: the topics it may write and read."""

    enclave: str
    publish: tuple[str, ...]
    subscribe: tuple[str, ...]


def enclave_path(namespace: str, name: str) -> str:
    """The enclave of node `name` in `namespace` ("actor_0" or "" for the root namespace):
    /skill_embedding_ros/actor_0/safety_gate. One enclave per node process, so each node holds
    only its own key and permissions."""
    ns = namespace.strip("/")
    return f"{ENCLAVE_ROOT}/{ns}/{name}" if ns else f"{ENCLAVE_ROOT}/{name}"


def resolve(name: str, namespace: str, node: str) -> str:
    """A ROS name as node `node` in `namespace` resolves it: /actor_0/commands."""
    ns = "/" + namespace.strip("/") if namespace.strip("/") else ""
    if name.startswith("/"):
        return name
    if name.startswith("~"):
        return f"{ns}/{node}/{name[1:].lstrip('/')}"
    return f"{ns}/{name}"


def grant(role: str, namespace: str = "", name: str | None = None) -> Grant:
    """The DDS topics node `name` (default: the role's name) of executable/role `role` in
    `namespace` may write and read: its INTERFACES entry plus EVERY_NODE, mangled as ROS 2 does."""
    if role not in INTERFACES:
        raise KeyError(f"no permissions for {role!r}; known: {sorted(INTERFACES)}")
    name = name or role
    iface = INTERFACES[role] + EVERY_NODE

    def names(items: Iterable[str]) -> list[str]:
        return [resolve(item, namespace, name) for item in items]

    publish = {ROS_DISCOVERY_INFO, *(f"rt{t}" for t in names(iface.publishes))}
    subscribe = {ROS_DISCOVERY_INFO, *(f"rt{t}" for t in names(iface.subscribes))}
    for service in names(iface.serves):
        subscribe.add(f"rq{service}Request")
        publish.add(f"rr{service}Reply")
    for service in names(iface.calls):
        publish.add(f"rq{service}Request")
        subscribe.add(f"rr{service}Reply")
    return Grant(enclave_path(namespace, name), tuple(sorted(publish)), tuple(sorted(subscribe)))


def graph_grants(graph: str, assignments: Iterable[str] = ()) -> list[Grant]:
    """One grant per node of a graph description (config/graphs/<graph>.yaml or a path) with
    `name:=value` arguments (e.g. actors:=2), plus the operator's."""
    from skill_embedding_ros.launch.graph import find_graph, load_graph, parse_assignments

    specs = load_graph(find_graph(graph)).resolve(parse_assignments(list(assignments)))
    grants = [grant(s.executable, s.namespace, s.name) for s in specs]
    return [*grants, grant(OPERATOR)]


# ---- the XML documents (OMG DDS-Security 1.1, as sros2 writes them) ----

Domains = tuple[int, int]
"""An inclusive range of ROS_DOMAIN_IDs the documents cover."""


def parse_domains(text: str | None) -> Domains:
    """ "5" or "0-101" -> (min, max); None -> ROS_DOMAIN_ID or 0, as sros2 does."""
    text = text if text is not None else os.environ.get("ROS_DOMAIN_ID", "0") or "0"
    low, _, high = str(text).partition("-")
    try:
        lo, hi = int(low), int(high or low)
    except ValueError:
        raise ValueError(f"domain: expected N or MIN-MAX (ROS_DOMAIN_IDs), got {text!r}") from None
    if not 0 <= lo <= hi <= 232:
        raise ValueError(f"domain: {text!r} is not a range within 0..232")
    return lo, hi


def _domains(parent: ET.Element, domains: Domains) -> None:
    element = ET.SubElement(parent, "domains")
    if domains[0] == domains[1]:
        ET.SubElement(element, "id").text = str(domains[0])
    else:
        rng = ET.SubElement(element, "id_range")
        ET.SubElement(rng, "min").text = str(domains[0])
        ET.SubElement(rng, "max").text = str(domains[1])


def _text(root: ET.Element) -> bytes:
    ET.indent(root)
    return b'<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root) + b"\n"


def _dds(schema: str) -> ET.Element:
    return ET.Element(
        "dds",
        {
            "xmlns:xsi": "http://www.w3.org/2001/XMLSchema-instance",
            "xsi:noNamespaceSchemaLocation": (
                f"http://www.omg.org/spec/DDS-SECURITY/20170901/omg_shared_ca_{schema}.xsd"
            ),
        },
    )


def governance_xml(domains: Domains) -> bytes:
    """sros2's default governance: no unauthenticated participants, join access control,
    everything encrypted, and read and write access control on every topic (the part that
    makes each enclave's permissions bind)."""
    root = _dds("governance")
    rule = ET.SubElement(ET.SubElement(root, "domain_access_rules"), "domain_rule")
    _domains(rule, domains)
    for tag, value in (
        ("allow_unauthenticated_participants", "false"),
        ("enable_join_access_control", "true"),
        ("discovery_protection_kind", "ENCRYPT"),
        ("liveliness_protection_kind", "ENCRYPT"),
        ("rtps_protection_kind", "ENCRYPT"),
    ):
        ET.SubElement(rule, tag).text = value
    topic = ET.SubElement(ET.SubElement(rule, "topic_access_rules"), "topic_rule")
    for tag, value in (
        ("topic_expression", "*"),
        ("enable_discovery_protection", "true"),
        ("enable_liveliness_protection", "true"),
        ("enable_read_access_control", "true"),
        ("enable_write_access_control", "true"),
        ("metadata_protection_kind", "ENCRYPT"),
        ("data_protection_kind", "ENCRYPT"),
    ):
        ET.SubElement(topic, tag).text = value
    return _text(root)


def _iso(moment: datetime.datetime) -> str:
    return moment.astimezone(datetime.timezone.utc).replace(microsecond=0).isoformat()


def permissions_xml(
    grant: Grant,
    domains: Domains,
    not_before: datetime.datetime,
    not_after: datetime.datetime,
) -> bytes:
    """The grant as a DDS permissions document: subject CN=<enclave> (the enclave
    certificate's subject), valid as long as the certificate, allow what the grant lists,
    deny everything else."""
    root = _dds("permissions")
    element = ET.SubElement(ET.SubElement(root, "permissions"), "grant", {"name": grant.enclave})
    ET.SubElement(element, "subject_name").text = f"CN={grant.enclave}"
    validity = ET.SubElement(element, "validity")
    ET.SubElement(validity, "not_before").text = _iso(not_before)
    ET.SubElement(validity, "not_after").text = _iso(not_after)
    rule = ET.SubElement(element, "allow_rule")
    _domains(rule, domains)
    for tag, topics in (("publish", grant.publish), ("subscribe", grant.subscribe)):
        listed = ET.SubElement(ET.SubElement(rule, tag), "topics")
        for topic in topics:
            ET.SubElement(listed, "topic").text = topic
    ET.SubElement(element, "default").text = "DENY"
    return _text(root)


def allowed_topics(document: bytes | str, kind: str) -> list[str]:
    """The topic expressions a permissions document allows for `kind` ("publish" or
    "subscribe"): what tests and reviewers read back from a generated permissions.xml."""
    root = ET.fromstring(document)
    return [t.text or "" for t in root.iterfind(f".//allow_rule/{kind}/topics/topic")]
