"""National and regional administration: entities (search, create, edit, deactivate, the
FINESS import), the appointment of APEs by the level above, the catalogue."""
