"""The seed's FastAPI endpoints, as written.

Changes from the seed: the base URL and the project's id and publishable client key come from
the environment, the imports sit once at the top, and `app = FastAPI()` (which the seed assumes)
is created here.
"""

import os

import requests
import time
from fastapi import Cookie, FastAPI, HTTPException

BASE_URL = os.environ["KEYGATE_BASE_URL"]
stack_project_id = os.environ["STACK_PROJECT_ID"]
stack_publishable_client_key = os.environ["STACK_PUBLISHABLE_CLIENT_KEY"]

app = FastAPI()


@app.post("/api/create-user-api-key")
async def create_user_api_key(stack_access_token: str = Cookie(None, alias="stack-access-token")):
    if not stack_access_token:
        raise HTTPException(status_code=401, detail="Not authenticated")

    # Create API key via client API
    response = requests.post(
        BASE_URL + '/api/v1/user-api-keys',
        headers={
            'x-stack-access-type': 'client',
            'x-stack-project-id': stack_project_id,
            'x-stack-publishable-client-key': stack_publishable_client_key,
            'x-stack-access-token': stack_access_token,
        },
        json={
            'user_id': 'me',
            'description': 'My client application',
            'expires_at_millis': int((time.time() + 90 * 24 * 60 * 60) * 1000),
        }
    )

    if response.status_code != 200:
        raise HTTPException(status_code=response.status_code, detail=response.text)

    return response.json()


@app.post("/api/teams/{team_id}/api-keys")
async def create_team_api_key(team_id: str, stack_access_token: str = Cookie(None, alias="stack-access-token")):
    if not stack_access_token:
        raise HTTPException(status_code=401, detail="Not authenticated")

    # Create team API key via client API
    response = requests.post(
        BASE_URL + '/api/v1/team-api-keys',
        headers={
            'x-stack-access-type': 'client',
            'x-stack-project-id': stack_project_id,
            'x-stack-publishable-client-key': stack_publishable_client_key,
            'x-stack-access-token': stack_access_token,
        },
        json={
            'team_id': team_id,
            'description': 'Team integration service',
            'expires_at_millis': int((time.time() + 60 * 24 * 60 * 60) * 1000),
        }
    )

    if response.status_code != 200:
        raise HTTPException(status_code=response.status_code, detail=response.text)

    return response.json()


@app.get("/api/user-api-keys")
async def list_user_api_keys(stack_access_token: str = Cookie(None, alias="stack-access-token")):
    if not stack_access_token:
        raise HTTPException(status_code=401, detail="Not authenticated")

    # List user's API keys via client API
    response = requests.get(
        BASE_URL + '/api/v1/user-api-keys?user_id=me',
        headers={
            'x-stack-access-type': 'client',
            'x-stack-project-id': stack_project_id,
            'x-stack-publishable-client-key': stack_publishable_client_key,
            'x-stack-access-token': stack_access_token,
        }
    )

    if response.status_code != 200:
        raise HTTPException(status_code=response.status_code, detail=response.text)

    return response.json()


@app.delete("/api/user-api-keys/{api_key_id}")
async def revoke_api_key(api_key_id: str, stack_access_token: str = Cookie(None, alias="stack-access-token")):
    if not stack_access_token:
        raise HTTPException(status_code=401, detail="Not authenticated")

    # Revoke API key via client API (update with revoked: true)
    response = requests.patch(
        f'{BASE_URL}/api/v1/user-api-keys/{api_key_id}',
        headers={
            'x-stack-access-type': 'client',
            'x-stack-project-id': stack_project_id,
            'x-stack-publishable-client-key': stack_publishable_client_key,
            'x-stack-access-token': stack_access_token,
        },
        json={
            'revoked': True,
        }
    )

    if response.status_code != 200:
        raise HTTPException(status_code=response.status_code, detail=response.text)

    return {"message": "API key revoked successfully"}


@app.get("/api/check-api-key/{api_key_id}")
async def check_api_key_validity(api_key_id: str, stack_access_token: str = Cookie(None, alias="stack-access-token")):
    if not stack_access_token:
        raise HTTPException(status_code=401, detail="Not authenticated")

    # Get API key details via client API
    response = requests.get(
        f'{BASE_URL}/api/v1/user-api-keys/{api_key_id}',
        headers={
            'x-stack-access-type': 'client',
            'x-stack-project-id': stack_project_id,
            'x-stack-publishable-client-key': stack_publishable_client_key,
            'x-stack-access-token': stack_access_token,
        }
    )

    if response.status_code != 200:
        raise HTTPException(status_code=404, detail="API key not found")

    api_key = response.json()

    # Check if manually revoked
    if api_key.get('manually_revoked_at_millis'):
        return {
            'valid': False,
            'reason': 'manually-revoked'
        }

    # Check if expired
    if api_key.get('expires_at_millis'):
        if api_key['expires_at_millis'] < time.time() * 1000:
            return {
                'valid': False,
                'reason': 'expired'
            }

    return {'valid': True}
