"""The outer loop: the controller and its PPO update, random search, and early termination.

Everything here runs on the CPU in the search process; only candidate evaluation may use a GPU.
"""
