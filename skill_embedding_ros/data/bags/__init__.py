"""data/bags"""
