from services.search.models import Base
from shared.migrations import run_env

run_env(Base.metadata, "search", before=("CREATE EXTENSION IF NOT EXISTS vector",))
