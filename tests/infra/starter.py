def check(root, load_tf, unwrap):
    return []
