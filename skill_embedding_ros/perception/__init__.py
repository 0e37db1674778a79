"""Object poses from a camera (ROS-free): the camera model (camera.py), ArUco marker detection
and the marker-to-object transform (aruco.py), image buffers as ROS carries them (image.py), and
a simulated camera that sees the Jaco scene's block with a marker on it (marked_scene.py)."""
