"""Robot I/O behind one interface (robots/io.py): a simulated scene (robots/sim.py) today, a
ros2_control arm through its driver's topics next."""
