"""Search service: Semantic, keyword and hybrid search; knowledge documents."""
