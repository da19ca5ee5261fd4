"""Watching deployed models: drift (PSI against the push-time baseline), alarms, status, prices, cost and
power tuning. Reads metrics and logs through the Target protocol, so every function here works on both
targets."""
