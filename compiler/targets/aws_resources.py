"""CloudFormation pieces of the AWS target: intrinsic functions, IAM statements and roles,
the artifact bucket and the stack's parameters. Every policy names its resources; no `*`."""

from __future__ import annotations

import posixpath
from typing import Any

from compiler.render.pipelines import cfn_sub_literal
from compiler.targets import ci_common as ci


def sub(text: str) -> dict[str, str]:
    return {"Fn::Sub": text}


def ref(name: str) -> dict[str, str]:
    return {"Ref": name}


def arn_of(resource: str) -> dict[str, list[str]]:
    return {"Fn::GetAtt": [resource, "Arn"]}


def log_statement(kind: str) -> dict[str, Any]:
    group = f"arn:${{AWS::Partition}}:logs:${{AWS::Region}}:${{AWS::AccountId}}:log-group:/aws/codebuild/${{AWS::StackName}}-{kind}"
    return {
        "Effect": "Allow",
        "Action": ["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"],
        "Resource": [sub(group), sub(group + ":*")],
    }


def connection_statement() -> dict[str, Any]:
    # The full clone (CODEBUILD_CLONE_REF) fetches through the connection.
    return {
        "Effect": "Allow",
        "Action": ["codestar-connections:UseConnection", "codeconnections:UseConnection"],
        "Resource": ref("ConnectionArn"),
    }


def read_artifacts_statement() -> dict[str, Any]:
    return {
        "Effect": "Allow",
        "Action": ["s3:GetObject", "s3:GetObjectVersion"],
        "Resource": sub("${ArtifactBucket.Arn}/*"),
    }


def assume(service: str) -> dict[str, Any]:
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Service": service},
                "Action": "sts:AssumeRole",
            }
        ],
    }


def role(description: str, service: str, statements: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "Type": "AWS::IAM::Role",
        "Properties": {
            "Description": description,
            "AssumeRolePolicyDocument": assume(service),
            "Policies": [
                {
                    "PolicyName": "least-privilege",
                    "PolicyDocument": {"Version": "2012-10-17", "Statement": statements},
                }
            ],
        },
    }


EXACT_OBJECTS_PER_BUCKET = 10


def metrics_objects(rows: list[ci.Training]) -> list[dict[str, str]]:
    """S3 objects the gates of Kubernetes-trained models read (other stores: their own creds).

    Each model's exact `metrics.json`, up to EXACT_OBJECTS_PER_BUCKET in a bucket; beyond, one
    ARN for every `metrics.json` below their common folder (IAM allows 10,240 characters of
    inline policy per role)."""
    keys: dict[str, list[str]] = {}
    for row in rows:
        if row.trains_on == ci.TRAINED_ON_KUBERNETES and row.metrics_uri.startswith("s3://"):
            bucket, _, key = row.metrics_uri.removeprefix("s3://").partition("/")
            keys.setdefault(bucket, []).append(key)
    arns = []
    for bucket, found in sorted(keys.items()):
        unique = sorted(set(found))
        if len(unique) > EXACT_OBJECTS_PER_BUCKET:
            folder = posixpath.commonpath(unique)
            unique = [(folder + "/" if folder else "") + "*metrics.json"]
        for key in unique:
            arns.append(sub("arn:${AWS::Partition}:s3:::" + cfn_sub_literal(f"{bucket}/{key}")))
    return arns


def parameters() -> dict[str, Any]:
    return {
        "ConnectionArn": {
            "Type": "String",
            "Description": "ARN of the CodeStar (CodeConnections) connection to the repository",
            "AllowedPattern": "^arn:aws[a-z-]*:(codestar-connections|codeconnections):.+$",
        },
        "FullRepositoryId": {
            "Type": "String",
            "Description": "The repository as owner/name",
            "AllowedPattern": "^[^/]+/[^/]+$",
        },
        "BranchName": {
            "Type": "String",
            "Default": "main",
            "Description": "Branch that is promoted; pull requests into it are checked",
        },
        "GitRemoteUrl": {
            "Type": "String",
            "Description": "https URL promotion pushes to (e.g. https://github.com/owner/name.git)",
            "AllowedPattern": "^https://.+$",
        },
        "PushTokenSecretArn": {
            "Type": "String",
            "Description": "Secrets Manager secret holding a token that may push to the repository",
            "AllowedPattern": "^arn:aws[a-z-]*:secretsmanager:.+$",
        },
    }


def artifact_bucket() -> dict[str, Any]:
    """The pipelines' artifact bucket: encrypted, private, versioned, TLS only, kept."""
    return {
        "ArtifactBucket": {
            "Type": "AWS::S3::Bucket",
            "DeletionPolicy": "Retain",
            "UpdateReplacePolicy": "Retain",
            "Properties": {
                "BucketEncryption": {
                    "ServerSideEncryptionConfiguration": [
                        {"ServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}
                    ]
                },
                "PublicAccessBlockConfiguration": {
                    "BlockPublicAcls": True,
                    "BlockPublicPolicy": True,
                    "IgnorePublicAcls": True,
                    "RestrictPublicBuckets": True,
                },
                "VersioningConfiguration": {"Status": "Enabled"},
            },
        },
        "ArtifactBucketPolicy": {
            "Type": "AWS::S3::BucketPolicy",
            "Properties": {
                "Bucket": ref("ArtifactBucket"),
                "PolicyDocument": {
                    "Version": "2012-10-17",
                    "Statement": [
                        {
                            "Sid": "TlsOnly",
                            "Effect": "Deny",
                            "Principal": "*",
                            "Action": "s3:*",
                            "Resource": [
                                arn_of("ArtifactBucket"),
                                sub("${ArtifactBucket.Arn}/*"),
                            ],
                            "Condition": {"Bool": {"aws:SecureTransport": "false"}},
                        }
                    ],
                },
            },
        },
    }
