def walk(stage, steps):
    pass
