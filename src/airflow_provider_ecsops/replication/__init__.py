"""Scale-down race replication: the field report's eight DAGs as one factory, and the race report.

``dags.scaledown_race_dags`` builds the set; ``report`` classifies what happened to every scheduled slot.
"""
