"""Evidence at rest: object store client, clip manifest, embedded SeaweedFS launcher."""
