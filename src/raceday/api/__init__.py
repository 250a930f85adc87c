"""HTTP: the FastAPI application, its routes and response schemas."""
