"""Regional faults: a whole region lost, or cut off from the others."""
