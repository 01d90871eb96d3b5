"""The knowledge base: articles operators answer with at the first level (issue 15)."""
