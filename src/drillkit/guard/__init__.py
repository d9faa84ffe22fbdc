"""Stop conditions, evaluated: each kind read (`kinds`), the live SLIs from drillkit's own samples
(`live`), and the watch that evaluates them while faults are in place and stops the run when one fires
(`watch`). Pure but for the HTTP calls and commands a condition names; the runner wires it in."""
