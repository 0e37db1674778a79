"""Thin rclpy nodes over the core: convert messages, call core, nothing clever."""
