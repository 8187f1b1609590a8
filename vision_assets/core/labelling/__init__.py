"""The labelling loop with annotation tools: a queue pushed to Label Studio, its annotations pulled back as labels."""
