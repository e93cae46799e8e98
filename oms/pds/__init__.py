"""The embedded ATProto Personal Data Server: accounts, identities, keys, signed repositories,
blobs, the firehose.
"""
