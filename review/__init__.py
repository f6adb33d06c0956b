"""The reviewer and administrator side: reads the sealed queue, decrypts only with a key the
reviewer holds, and manages which reviewer recipients new reports are sealed to."""
