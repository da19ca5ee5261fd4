"""Deployment targets: `local` (embedded Lambda emulation, the default) and `aws` (CloudFormation)."""
