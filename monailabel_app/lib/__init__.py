"""MONAI Label glue for cephmark: tasks, datastores and options (the library work is in cephmark.app)."""
