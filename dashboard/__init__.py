"""The clusterlink dashboard: playback, compare, live runs and the scenario viewer (Solara)."""
