"""Fault injection for the platform's functions on stages that allow it: a Lambda layer
(fault_injection/), never part of the functions' code asset. `switches` reads the switches and
makes the invocation's faults, `sdk` the faults the SDK meets, `wrapper` runs a function's own
handler with them around it."""
