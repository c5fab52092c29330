"""The shop-floor dashboard of Line Workbench: pages over the one shared live store of the server process."""
