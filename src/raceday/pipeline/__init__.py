"""Poll, transform, write: the service's main job."""
