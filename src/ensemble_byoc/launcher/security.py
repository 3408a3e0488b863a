"""What a regulated or multi-host job needs: network isolation, a VPC, encryption between instances,
and KMS keys for volumes and outputs. One :class:`Security` holds them for every request a launcher sends.
"""

from __future__ import annotations

from dataclasses import dataclass

from sagemaker.core import shapes

from ensemble_byoc.errors import UserError


@dataclass(frozen=True)
class Security:
    """Security settings shared by a launcher's training, tuning, model and transform requests.

    Args:
        inter_container_encryption: encrypt the traffic between a job's instances. ``None`` (default)
            turns it on for jobs with more than one instance (the Dask cluster's traffic; it adds no cost
            to a single instance) and leaves it off otherwise.
        network_isolation: no outbound network from the container (the image downloads nothing).
        subnets: VPC subnets of the job's instances or the model's containers; needs
            ``security_group_ids``. A multi-host job's security group must allow all TCP traffic between
            its own members (the Dask and the libraries' ports).
        security_group_ids: VPC security groups; needs ``subnets``.
        volume_kms_key: KMS key for the instances' storage volumes.
        output_kms_key: KMS key for what the job writes to S3 (model.tar.gz, output, transform results).
    """

    inter_container_encryption: bool | None = None
    network_isolation: bool = False
    subnets: tuple[str, ...] = ()
    security_group_ids: tuple[str, ...] = ()
    volume_kms_key: str | None = None
    output_kms_key: str | None = None

    def vpc_config(self) -> shapes.VpcConfig | None:
        if bool(self.subnets) != bool(self.security_group_ids):
            msg = "A VPC needs both subnets (--subnets) and security groups (--security-group-ids)."
            raise UserError(msg)
        if not self.subnets:
            return None
        return shapes.VpcConfig(subnets=list(self.subnets), security_group_ids=list(self.security_group_ids))

    def encrypt_between(self, instance_count: int) -> bool | None:
        """``EnableInterContainerTrafficEncryption``: on for several instances unless turned off."""
        wanted = self.inter_container_encryption
        return (instance_count > 1 if wanted is None else wanted) or None

    def isolation(self) -> bool | None:
        return self.network_isolation or None
