"""Pure core of vision_assets: no Dagster imports here, so every piece is usable and testable on its own."""
