"""Placeholder: replaced by the seed notebook reproduction."""
print("tracegrad seed notebooks")
