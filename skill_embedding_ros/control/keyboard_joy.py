"""Keys typed in a terminal -> the buttons and axes of a sensor_msgs/Joy laid out as a teleop
mapping says (control/teleop_mapping.py), for the keyboard teleop node (ros/keyboard_teleop.py).

A terminal sends a character when a key goes down and then, while it stays down, auto-repeats it
(after a delay of ~0.25-0.6 s, then every ~0.03-0.05 s); it sends nothing when the key comes up.
So a key counts as held for `first_hold` s after its first press (longer than the repeat delay)
and for `hold` s after each repeat: a released key reads held up to that long. A terminal repeats
only the last key pressed, so two keys cannot be held together: the deadman (Space) cannot be
held while a motion key moves a joint. Intervene therefore toggles (Tab, on its press, not its
repeats): once on, the motion keys drive the joints and no key holds them still. It is not a
deadman: a joystick is for robots that need one.

Pure: time is passed in (s).
"""

from __future__ import annotations

from skill_embedding_ros.control.teleop_mapping import TeleopMapping

ROLE_KEYS = {
    "deadman": (" ", "Space"),
    "intervene": ("\t", "Tab"),
    "estop": ("x", "x"),
    "confirm": ("\n", "Enter"),
    "success": ("p", "p"),
    "failure": ("n", "n"),
    "abort": ("b", "b"),
}
"""Role -> (the character its key sends, its name for the help)."""
TOGGLES = ("intervene",)
"""Roles a press switches on or off (see the module docstring)."""
AXIS_KEYS = ("qa", "ws", "ed", "rf", "tg", "yh", "uj", "ik", "ol")
"""Axis index -> its keys: the first drives it to +1, the second to -1."""


class KeyboardJoy:
    """Which keys are held, and the Joy they make."""

    def __init__(self, mapping: TeleopMapping, first_hold: float, hold: float):
        if mapping.axis_count > len(AXIS_KEYS):
            raise ValueError(
                f"teleop mapping {mapping.source} uses {mapping.axis_count} axes; the keyboard "
                f"has key pairs for {len(AXIS_KEYS)}"
            )
        self.mapping, self.first_hold, self.hold = mapping, first_hold, hold
        self._pressed: dict[str, tuple[float, bool]] = {}
        """Key -> (when it last came, whether that was an auto-repeat)."""
        self.toggled: set[str] = set()

    def key(self, char: str, now: float) -> str:
        """A character from the terminal at `now` (s); returns what changed, for the operator
        ("" when nothing worth saying)."""
        char = "\n" if char == "\r" else char  # Enter, whatever the terminal's CR handling
        repeat = self._held(char, now)
        self._pressed[char] = (now, repeat)
        for role in TOGGLES:
            if char == ROLE_KEYS[role][0] and role in self.mapping.buttons and not repeat:
                self.toggled ^= {role}
                return f"{role} {'on' if role in self.toggled else 'off'}"
        return ""

    def joy(self, now: float) -> tuple[list[int], list[float]]:
        """(buttons, axes) at `now`, sized for the mapping."""
        buttons = [0] * self.mapping.button_count
        for role, index in self.mapping.buttons.items():
            held = role in self.toggled if role in TOGGLES else self._held(ROLE_KEYS[role][0], now)
            buttons[index] = max(buttons[index], int(held))
        axes = [
            float(self._held(plus, now)) - float(self._held(minus, now))
            for plus, minus in AXIS_KEYS[: self.mapping.axis_count]
        ]
        return buttons, axes

    def help(self) -> str:
        """The keys, as the mapping uses them."""
        lines = [f"keyboard teleop ({self.mapping.source}); keys:"]
        for role in self.mapping.buttons:
            how = "toggles" if role in TOGGLES else "held" if role == "deadman" else "press"
            lines.append(f"  {ROLE_KEYS[role][1]:>5}  {role} ({how})")
        by_axis: dict[int, list[str]] = {}
        for joint, terms in self.mapping.axes.items():
            for term in terms:
                by_axis.setdefault(term.axis, []).append(joint)
        for axis, joints in sorted(by_axis.items()):
            plus, minus = AXIS_KEYS[axis]
            lines.append(f"  {plus}/{minus}    axis {axis} +/-: {', '.join(joints)}")
        lines.append(
            f"A key reads held {self.first_hold:g} s after its press, {self.hold:g} s after each "
            "auto-repeat (terminals send no key-up). Ctrl-C quits."
        )
        return "\n".join(lines)

    def _held(self, char: str, now: float) -> bool:
        if char not in self._pressed:
            return False
        at, repeat = self._pressed[char]
        return now - at <= (self.hold if repeat else self.first_hold)
