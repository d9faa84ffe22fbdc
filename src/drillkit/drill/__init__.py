"""Running experiments and drills, and scoring them."""
