"""The Docker staging: a private Docker engine that leaves the host's network as it found it, the images
built locally from the project, and the Compose staging of the platform that runs on them."""
